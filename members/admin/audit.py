"""The audit trail: read-only, filtered by operator, institution and action, and its chain verified."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from members.admin.common import EstimatedCountPaginator, ReadOnlyAdminMixin, local_time, object_type_label
from members.audit import (
    Actor,
    audit_action_choices,
    audit_action_label,
    audit_actor_label,
    audit_chain_verify,
    audit_event_record,
    audit_verified_payload,
    audit_verified_text,
)
from members.models import AuditCheckpoint, AuditEvent, Institution


class AuditInstitutionFilter(admin.SimpleListFilter):
    """Events that concern one member: about it, about its objects, or done with its credentials."""

    title = _("institution")
    parameter_name = "institution"

    def lookups(self, request, model_admin):
        return [(str(pk), name) for pk, name in Institution.objects.order_by("name").values_list("pk", "name")]

    def queryset(self, request, queryset):
        return queryset.filter(institution_id=self.value()) if self.value() else queryset


class AuditOperatorFilter(admin.SimpleListFilter):
    """Events done by one operator (members' credentials: filter by institution; search by key prefix)."""

    title = _("operator")
    parameter_name = "operator"

    def lookups(self, request, model_admin):
        users = get_user_model().objects.filter(is_staff=True).order_by("username")
        return [(str(user.pk), user.get_username()) for user in users]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(actor_type=AuditEvent.ActorType.OPERATOR, actor_id=self.value())
        return queryset


class AuditActionFilter(admin.SimpleListFilter):
    """The registered actions by their labels (members.audit); the stored code stays the filter value."""

    title = _("action")
    parameter_name = "action"

    def lookups(self, request, model_admin):
        return audit_action_choices()

    def queryset(self, request, queryset):
        return queryset.filter(action=self.value()) if self.value() else queryset


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["seq", "time", "actor", "action_label", "institution_name", "object_shown"]
    list_filter = [
        ("occurred_at", admin.DateFieldListFilter),
        "actor_type",
        AuditOperatorFilter,
        AuditInstitutionFilter,
        AuditActionFilter,
    ]
    list_select_related = ["institution"]
    search_fields = ["=object_id", "=actor_label", "=action"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 100
    ordering = ["-seq"]
    change_list_template = "admin/members/auditevent/change_list.html"
    fields = [
        "seq",
        "time",
        "actor_type",
        "actor",
        "actor_id",
        "action_label",
        "institution",
        "object_kind",
        "object_id",
        "object_repr",
        "payload",
        "prev_hash",
        "hash",
    ]

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def lookup_allowed(self, lookup, value, request=None) -> bool:
        # Every object's page links here with its type and id ("history").
        if lookup in ("object_type", "object_id"):
            return True
        return super().lookup_allowed(lookup, value, request)

    @admin.display(description=_("time"), ordering="seq")
    def time(self, obj: AuditEvent) -> str:
        return local_time(obj.occurred_at)

    @admin.display(description=_("actor"))
    def actor(self, obj: AuditEvent) -> str:
        return audit_actor_label(obj.actor_type, obj.actor_label)

    @admin.display(description=_("action"))
    def action_label(self, obj: AuditEvent) -> str:
        return audit_action_label(obj.action)

    @admin.display(description=_("object type"))
    def object_kind(self, obj: AuditEvent) -> str:
        return object_type_label(obj.object_type)

    @admin.display(description=_("object"))
    def object_shown(self, obj: AuditEvent) -> str:
        if not obj.object_type:
            return "—"
        return gettext("%(type)s: %(object)s") % {"type": object_type_label(obj.object_type), "object": obj.object_repr}

    @admin.display(description=_("institution"))
    def institution_name(self, obj: AuditEvent) -> str:
        return obj.institution.name if obj.institution_id and obj.institution else "—"

    def get_urls(self):
        return [
            path("verify/", self.admin_site.admin_view(self.verify_view), name="members_auditevent_verify"),
            *super().get_urls(),
        ]

    def verify_view(self, request: HttpRequest):
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:members_auditevent_changelist"))
        if not self.has_view_permission(request):
            raise PermissionDenied
        # From the last verified head, as the nightly job does: a full walk is `audit_verify --full`.
        result = audit_chain_verify()
        audit_event_record(
            actor=Actor.operator(request.user), action="audit.verified", payload=audit_verified_payload(result)
        )
        if result.ok:
            self.message_user(request, audit_verified_text(result), messages.SUCCESS)
        else:
            self.message_user(
                request,
                gettext("Audit chain BROKEN at event %(seq)s: %(problem)s")
                % {"seq": result.broken_seq, "problem": result.problem},
                messages.ERROR,
            )
        return HttpResponseRedirect(reverse("admin:members_auditevent_changelist"))


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The verified heads: where each verification started and ended; the nightly one starts at the latest."""

    list_display = ["seq", "hash", "from_seq", "checked", "full", "verified_at"]
    list_filter = ["full"]
