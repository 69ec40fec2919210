"""The operators' desk for what is shared: each package's admin module registers its screens and its audit labels.

A package with operator screens adds its admin module here (one import line below) and its dashboard panels with
``members.admin.dashboard.dashboard_panel``.
"""

from sharing.alerts import admin as alerts_admin  # noqa: F401  (importing registers the admins and labels)
from sharing.desk import dashboard, subject_access, subjects  # noqa: F401
from sharing.disputes import admin as disputes_admin  # noqa: F401
from sharing.evaluations import admin as evaluations_admin  # noqa: F401
from sharing.lookups import admin as lookups_admin  # noqa: F401
from sharing.monitoring import admin as monitoring_admin  # noqa: F401
from sharing.protection import admin as protection_admin  # noqa: F401
from sharing.records import admin as records_admin  # noqa: F401
from sharing.registers import admin as registers_admin  # noqa: F401
from sharing.reports import admin as reports_admin  # noqa: F401
from sharing.retention import admin as retention_admin  # noqa: F401
from sharing.subjects import admin as subjects_admin  # noqa: F401
from sharing.tlog import admin as tlog_admin  # noqa: F401
from sharing.tokens import admin as tokens_admin  # noqa: F401
