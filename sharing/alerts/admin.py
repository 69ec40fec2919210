"""Operators read alerts (read-only): who was told what, and when it was acknowledged."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from members.admin.common import ReadOnlyAdminMixin
from members.audit import audit_labels_register
from sharing.alerts.models import Alert


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Alerts members receive through the API (read-only)."""

    list_display = ["id", "created_at", "member", "kind", "acknowledged_at"]
    list_filter = ["kind", ("acknowledged_at", admin.EmptyFieldListFilter)]
    search_fields = ["=member__uscc"]
    list_select_related = ["member"]
    show_full_result_count = False


# What operators read for this package's audit action codes (stored in English: they are hashed into the
# audit chain).
audit_labels_register(
    actions={
        "alert.acknowledged": _("Alert acknowledged"),
    },
)
