"""The operators' desk: institutions, credentials, the audit trail and the dashboard.

Every change goes through the same services as the management commands, so the admin writes the
same audit events; nothing here edits a model directly. Other apps import the shared pieces from
here (``members.admin.common``) and add dashboard panels through ``members.admin.dashboard``.
"""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from members.admin import audit, credentials, dashboard, history, institutions  # noqa: F401  (registers the admins)
from members.admin.common import EstimatedCountPaginator, ReadOnlyAdminMixin, ReasonForm, reason_action

admin.site.site_header = _("riskshare operations")
admin.site.site_title = _("riskshare")
admin.site.index_title = _("Platform administration")
# "View site" leads to what the platform serves: the API documentation.
admin.site.site_url = "/api/v1/docs/"
# The navigation sidebar takes 300 px of a 1366 px screen from every list; the index and the
# breadcrumbs lead everywhere it does.
admin.site.enable_nav_sidebar = False

__all__ = ["EstimatedCountPaginator", "ReadOnlyAdminMixin", "ReasonForm", "reason_action"]

# Django's admin and django-axes leave these untranslated in zh-hans; our catalogue carries them
# (the app name "Axes" is a library's name and not translatable).
_THEIR_STRINGS = (
    _("Model name"),
    _("Add link"),
    _("Change or view list link"),
    _("access attempts"),
    _("access failures"),
    _("access logs"),
    _("access attempt"),
    _("access failure"),
    _("access log"),
)
