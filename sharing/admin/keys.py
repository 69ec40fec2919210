"""Consortium key versions: created with `manage.py consortium_key_new` (the key goes to a file, never the web)."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from members.admin.common import ActorLabelsMixin, AuditLinkMixin, ReadOnlyAdminMixin, ReasonForm, reason_action
from members.audit import Actor
from sharing.models import ConsortiumKey
from sharing.services.keys import consortium_key_retire


@admin.register(ConsortiumKey)
class ConsortiumKeyAdmin(ActorLabelsMixin, AuditLinkMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    actor_fields = ("created_by", "retired_by")
    list_display = ["version", "state", "check_value", "created_at", "created_by", "retired_at"]
    list_filter = ["state"]
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
