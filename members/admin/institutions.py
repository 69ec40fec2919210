"""Institutions: onboarding, qualification review and the lifecycle, each move with a reason."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError
from members.admin.common import (
    RECENT_EVENTS,
    AuditLinkMixin,
    ReasonForm,
    audit_event_admin_url,
    audit_events_table,
    reason_action,
)
from members.audit import Actor, actor_text
from members.models import AuditEvent, Institution, InstitutionTransition
from members.services import ALLOWED_TRANSITIONS, institution_create, institution_transition, institution_update


class TransitionForm(ReasonForm):
    """Offers only the moves legal from the current status of every selected institution."""

    to_status = forms.ChoiceField(label=_("New status"))

    def __init__(self, *args, from_statuses: set[str] = frozenset(), **kwargs):
        super().__init__(*args, **kwargs)
        legal = set(Institution.Status.values)
        for status in from_statuses:
            legal &= ALLOWED_TRANSITIONS[status]
        self.fields["to_status"].choices = [(v, label) for v, label in Institution.Status.choices if v in legal]
        self.order_fields(["to_status", "reason"])
        if not legal:
            self.fields["to_status"].help_text = _(
                "The selected institutions have no status change in common: select institutions of one status."
            )


class InstitutionTransitionInline(admin.TabularInline):
    model = InstitutionTransition
    extra = 0
    can_delete = False
    fields = ["created_at", "from_status", "to_status", "reason", "by"]
    readonly_fields = fields
    ordering = ["-created_at"]

    @admin.display(description=_("by"))
    def by(self, obj: InstitutionTransition) -> str:
        return actor_text(obj.actor_label)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


_CREATE_FIELDS = [
    "name",
    "uscc",
    "kind",
    "contact_name",
    "contact_email",
    "contact_phone",
    "licence_number",
    "licence_expiry",
]


@admin.register(Institution)
class InstitutionAdmin(AuditLinkMixin, admin.ModelAdmin):
    list_display = ["name", "uscc", "kind", "status", "licence_expiry", "status_changed_at"]
    list_filter = ["status", "kind", ("licence_expiry", admin.DateFieldListFilter)]
    search_fields = ["name", "=uscc", "licence_number"]
    list_select_related = False
    show_full_result_count = False
    readonly_fields = ["status", "status_changed_at", "reviewed_by", "reviewed_at", "created_at", "recent_events"]
    inlines = [InstitutionTransitionInline]
    actions = ["change_status"]
    fieldsets = [
        (None, {"fields": ["name", "uscc", "kind"]}),
        (_("Contact"), {"fields": ["contact_name", "contact_email", "contact_phone"]}),
        (_("Qualification"), {"fields": ["licence_number", "licence_expiry", "reviewed_by", "reviewed_at"]}),
        (_("Lifecycle"), {"fields": ["status", "status_changed_at", "created_at"]}),
        (_("Recent audit events"), {"fields": ["recent_events"]}),
    ]

    def lookup_allowed(self, lookup, value, request=None) -> bool:
        # The dashboard links to licences expiring within a window.
        if lookup in ("licence_expiry__lte", "licence_expiry__gte"):
            return True
        return super().lookup_allowed(lookup, value, request)

    def audit_url(self, obj: Institution) -> str:
        return audit_event_admin_url(institution=obj.pk)

    @admin.display(description=_("recent audit events"))
    def recent_events(self, obj: Institution) -> str:
        if obj.pk is None:
            return "—"
        return audit_events_table(
            AuditEvent.objects.filter(institution_id=obj.pk).order_by("-seq", "-id")[:RECENT_EVENTS]
        )

    def get_readonly_fields(self, request, obj=None):
        # The USCC identifies the member everywhere; it is set once, at creation.
        return [*self.readonly_fields, "uscc"] if obj is not None else self.readonly_fields

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        # A resubmitted add form creates nothing twice: the USCC is unique, and the form says it is taken.
        actor = Actor.operator(request.user)
        try:
            if change:
                institution_update(
                    actor=actor,
                    institution=Institution.objects.get(pk=obj.pk),
                    changes={field: form.cleaned_data[field] for field in form.changed_data},
                )
            else:
                created = institution_create(actor=actor, **{f: form.cleaned_data[f] for f in _CREATE_FIELDS})
                obj.pk = created.pk
        except DomainError as exc:
            # The form already validated; this is a race (e.g. the same USCC created meanwhile).
            raise PermissionDenied(exc.message) from exc

    def log_addition(self, request, obj, message):
        # The audit trail records every change (the history button leads there); no LogEntry.
        return None

    def log_change(self, request, obj, message):
        return None

    def response_add(self, request, obj, post_url_continue=None):
        self.message_user(request, gettext("Institution %(object)s created as an applicant.") % {"object": obj})
        return self._redirect_after_save(request, obj)

    def response_change(self, request, obj):
        self.message_user(request, gettext("The details of %(object)s were saved.") % {"object": obj})
        return self._redirect_after_save(request, obj)

    def _redirect_after_save(self, request, obj):
        from django.http import HttpResponseRedirect
        from django.urls import reverse

        if "_continue" in request.POST:
            return HttpResponseRedirect(reverse("admin:members_institution_change", args=[obj.pk]))
        return HttpResponseRedirect(reverse("admin:members_institution_changelist"))

    @admin.action(description=_("Change status (with a reason)…"), permissions=["review"])
    def change_status(self, request, queryset):
        def apply(obj: Institution, data: dict) -> str:
            before = obj.get_status_display()
            moved = institution_transition(
                actor=Actor.operator(request.user),
                institution=obj,
                to_status=data["to_status"],
                reason=data["reason"],
                reviewer=request.user,
            )
            return gettext("%(object)s moved from %(from)s to %(to)s.") % {
                "object": moved.name,
                "from": before,
                "to": moved.get_status_display(),
            }

        return reason_action(
            self,
            request,
            queryset,
            form_class=TransitionForm,
            form_kwargs={"from_statuses": set(queryset.values_list("status", flat=True))},
            title=gettext("Change the status of institutions"),
            apply=apply,
        )

    def has_review_permission(self, request) -> bool:
        return request.user.has_perm("members.review_institution")
