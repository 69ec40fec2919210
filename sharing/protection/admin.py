"""Protective registrations, for operators to read; the desk's 本人查询 page makes, renews and withdraws them."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from members.audit import audit_labels_register
from sharing.protection.models import ProtectiveRegistration


@admin.register(ProtectiveRegistration)
class ProtectiveRegistrationAdmin(admin.ModelAdmin):
    list_display = ["id", "reason", "channel", "member", "registered_at", "expires_at", "withdrawn_at"]
    list_filter = ["channel", "reason"]
    list_select_related = ["member"]
    fields = [
        "reason",
        "channel",
        "member",
        "consent_reference",
        "registered_at",
        "registered_by",
        "expires_at",
        "renewed_at",
        "withdrawn_at",
        "withdrawn_by",
    ]

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


audit_labels_register(
    actions={
        "protection.registered": _("Identity registered as at risk (protective registration)"),
        "protection.renewed": _("Protective registration renewed"),
        "protection.withdrawn": _("Protective registration withdrawn"),
    },
)
