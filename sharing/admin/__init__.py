"""The operators' desk for what is shared: one module per concern, each registering its admins.

Another app area adds its admin module here (one import line below) and its dashboard panels with
``members.admin.dashboard.dashboard_panel``.
"""

from sharing.admin import (  # noqa: F401  (importing registers the admins and the dashboard panels)
    dashboard,
    disputes,
    keys,
    labels,
    log,
    lookups,
    monitoring,
    records,
    reports,
    subjects,
)
