"""Token evaluation limits per member, and what each member obtained (counts only)."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from members.admin.common import ActorLabelsMixin
from members.audit import Actor, audit_labels_register
from sharing.evaluations.models import TokenEvaluationLimit
from sharing.evaluations.services import evaluation_limit_set


@admin.register(TokenEvaluationLimit)
class TokenEvaluationLimitAdmin(ActorLabelsMixin, admin.ModelAdmin):
    """A member's limit; without a row here the default derived from its own use applies."""

    actor_fields = ("updated_by",)
    list_display = ["member", "evaluations_per_day", "updated_at", "updated_by"]
    search_fields = ["member__name", "=member__uscc"]
    autocomplete_fields = ["member"]
    list_select_related = ["member"]
    fields = ["member", "evaluations_per_day", "updated_at", "updated_by"]
    readonly_fields = ["updated_at", "updated_by"]

    def get_readonly_fields(self, request, obj=None):
        fields = self._shown(self.readonly_fields)
        return [*fields, "member"] if obj is not None else fields

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        limit = evaluation_limit_set(
            actor=Actor.operator(request.user),
            member=obj.member,
            evaluations_per_day=form.cleaned_data["evaluations_per_day"],
        )
        obj.pk = limit.pk

    def log_addition(self, request, obj, message):
        # The audit trail records the change; no LogEntry.
        return None

    def log_change(self, request, obj, message):
        return None


audit_labels_register(
    actions={
        "tokens.evaluated": _("Token evaluation"),
        "tokens.evaluation_refused": _("Token evaluation refused (limit)"),
        "tokens.evaluated_for_subject": _("Tokens evaluated for a data subject"),
        "evaluation_limit.set": _("Token evaluation limit set"),
    },
)
