"""Consortium key versions: created with `manage.py consortium_key_new` (the key goes to a file, never the web)."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from members.admin.common import ActorLabelsMixin, AuditLinkMixin, ReadOnlyAdminMixin, ReasonForm, reason_action
from members.audit import Actor, audit_labels_register
from sharing.tokens.identifiers import ID_TYPES
from sharing.tokens.models import ConsortiumKey
from sharing.tokens.services import consortium_key_retire


@admin.register(ConsortiumKey)
class ConsortiumKeyAdmin(ActorLabelsMixin, AuditLinkMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    actor_fields = ("created_by", "retired_by")
    list_display = ["version", "scheme", "state", "check_value", "created_at", "created_by", "retired_at"]
    list_filter = ["state", "scheme"]
    actions = ["retire"]

    @admin.action(description=_("Retire (with a reason)…"), permissions=["retire"])
    def retire(self, request, queryset):
        def apply(obj: ConsortiumKey, data: dict) -> str:
            consortium_key_retire(actor=Actor.operator(request.user), version=obj.version, reason=data["reason"])
            return gettext("Consortium key version %(version)s retired.") % {"version": obj.version}

        return reason_action(
            self,
            request,
            queryset,
            form_class=ReasonForm,
            title=gettext("Retire consortium key versions"),
            apply=apply,
        )

    def has_retire_permission(self, request) -> bool:
        return request.user.has_perm("sharing.retire_consortiumkey")


# Small pieces every package's admin shares.
def short_token(token) -> str:
    """Enough of a peppered token to tell two apart on a screen, not enough to be worth copying."""
    return bytes(token).hex()[:12] + "…"


def id_type_label(id_type: str) -> str:
    return str(ID_TYPE_LABELS.get(id_type, id_type))


def id_type_choices() -> list[tuple[str, str]]:
    return [(id_type, id_type_label(id_type)) for id_type in ID_TYPES]


ID_TYPE_LABELS = {
    "cn_resident_id": _("Resident ID number"),
    "cn_mobile": _("Mobile number"),
    "cn_uscc": _("Unified social credit code"),
    "bank_card": _("Bank card number"),
    "email": _("E-mail address"),
    "device_id": _("Device ID"),
}


# What operators read for this package's audit action codes (stored in English: they are hashed into the
# audit chain).
audit_labels_register(
    actions={
        "consortium_key.created": _("Consortium key version created"),
        "consortium_key.retired": _("Consortium key version retired"),
    },
)
