from django.contrib import admin
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from members.admin import ReadOnlyAdminMixin, ReasonForm, reason_action
from members.audit import Actor
from sharing.models import Batch, ConsortiumKey, LookupQuota, MemberFlag
from sharing.services.keys import consortium_key_retire
from sharing.services.quotas import lookup_quota_set


@admin.register(ConsortiumKey)
class ConsortiumKeyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Key versions are created with `manage.py consortium_key_new` (the key goes to a file, never the web)."""

    list_display = ["version", "state", "check_value", "created_at", "created_by", "retired_at"]
    list_filter = ["state"]
    actions = ["retire"]

    @admin.action(description=_("Retire (with a reason)…"), permissions=["retire"])
    def retire(self, request, queryset):
        return reason_action(
            self,
            request,
            queryset,
            form_class=ReasonForm,
            title=gettext("Retire consortium key versions"),
            apply=lambda obj, data: consortium_key_retire(
                actor=Actor.operator(request.user), version=obj.version, reason=data["reason"]
            ),
        )

    def has_retire_permission(self, request) -> bool:
        return request.user.has_perm("sharing.retire_consortiumkey")


@admin.register(Batch)
class BatchAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Submitted batches, to spot one that is stuck (the sweep re-enqueues those after a few minutes)."""

    list_display = [
        "id",
        "member",
        "status",
        "received",
        "accepted",
        "rejected",
        "attempts",
        "created_at",
        "processed_at",
    ]
    list_filter = ["status"]
    search_fields = ["=id", "=member__uscc"]
    list_select_related = ["member"]
    show_full_result_count = False
    exclude = ["errors"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields if field.name != "errors"]


@admin.register(LookupQuota)
class LookupQuotaAdmin(admin.ModelAdmin):
    """A member's lookup limits; without a row here the platform defaults apply."""

    list_display = ["member", "requests_per_minute", "identifiers_per_day", "updated_at", "updated_by"]
    search_fields = ["member__name", "=member__uscc"]
    autocomplete_fields = ["member"]
    list_select_related = ["member"]
    fields = ["member", "requests_per_minute", "identifiers_per_day", "updated_at", "updated_by"]
    readonly_fields = ["updated_at", "updated_by"]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "member"] if obj is not None else self.readonly_fields

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        quota = lookup_quota_set(
            actor=Actor.operator(request.user),
            member=obj.member,
            requests_per_minute=form.cleaned_data["requests_per_minute"],
            identifiers_per_day=form.cleaned_data["identifiers_per_day"],
        )
        obj.pk = quota.pk


@admin.register(MemberFlag)
class MemberFlagAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Raised automatically; each one also has an audit event."""

    list_display = ["created_at", "member", "kind", "detail"]
    list_filter = ["kind"]
    search_fields = ["member__name", "=member__uscc"]
    list_select_related = ["member"]
    show_full_result_count = False
