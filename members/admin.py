"""The operators' desk: institutions, credentials and the audit trail.

Every change goes through the same services as the management commands, so
the admin writes the same audit events; nothing here edits a model directly.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Q
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError
from members.audit import Actor, audit_chain_verify, audit_event_record
from members.models import AuditEvent, Credential, Institution, InstitutionTransition
from members.services import (
    credential_issue,
    credential_revoke,
    institution_create,
    institution_transition,
    institution_update,
)

admin.site.site_header = _("riskshare operations")
admin.site.site_title = _("riskshare")
admin.site.index_title = _("Platform administration")


class EstimatedCountPaginator(Paginator):
    """Counting a large append-only table exactly is slow; unfiltered lists use the planner's estimate."""

    @cached_property
    def count(self) -> int:
        query = self.object_list.query
        if not query.where:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [self.object_list.model._meta.db_table],
                )
                estimate = cursor.fetchone()[0]
            if estimate > 100_000:
                return estimate
        return super().count


class ReadOnlyAdminMixin:
    """Rows that only services write: the admin lists and shows them, nobody edits or deletes them here."""

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def audit_events_table(events) -> str:
    """A compact table of audit events for an object's page, newest first, each linked to its full entry."""
    rows = [
        (
            reverse("admin:members_auditevent_change", args=[event.pk]),
            event.seq,
            timezone.localtime(event.occurred_at).strftime("%Y-%m-%d %H:%M:%S"),
            event.action,
            event.actor_label,
        )
        for event in events
    ]
    if not rows:
        return gettext("No audit events yet.")
    return format_html(
        "<table><thead><tr><th>#</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>",
        gettext("time"),
        gettext("action"),
        gettext("actor"),
        format_html_join("", '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>', rows),
    )


RECENT_EVENTS = 20


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)


class TransitionForm(ReasonForm):
    to_status = forms.ChoiceField(label=_("New status"), choices=Institution.Status.choices)


def reason_action(modeladmin, request, queryset, *, form_class, title: str, apply) -> TemplateResponse | None:
    """An admin action that first asks for a reason (and any other fields) on an intermediate page.

    ``apply(obj, cleaned_data)`` runs per selected object; domain errors are shown per object.
    """
    if "apply" in request.POST:
        form = form_class(request.POST)
        if form.is_valid():
            done = 0
            for obj in queryset:
                try:
                    apply(obj, form.cleaned_data)
                    done += 1
                except DomainError as exc:
                    modeladmin.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
            if done:
                modeladmin.message_user(request, gettext("%(count)d object(s) updated.") % {"count": done})
            return None
    else:
        form = form_class()
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "form": form,
        "queryset": queryset,
        "opts": modeladmin.model._meta,
        "action": request.POST.get("action"),
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/reason_action.html", context)


class InstitutionTransitionInline(admin.TabularInline):
    model = InstitutionTransition
    extra = 0
    can_delete = False
    fields = ["created_at", "from_status", "to_status", "reason", "actor_label"]
    readonly_fields = fields
    ordering = ["-created_at"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Institution)
class InstitutionAdmin(admin.ModelAdmin):
    list_display = ["name", "uscc", "kind", "status", "licence_expiry", "status_changed_at"]
    list_filter = ["status", "kind"]
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

    @admin.display(description=_("recent audit events"))
    def recent_events(self, obj: Institution) -> str:
        if obj.pk is None:
            return "—"
        return audit_events_table(AuditEvent.objects.filter(institution_id=obj.pk).order_by("-seq")[:RECENT_EVENTS])

    def get_readonly_fields(self, request, obj=None):
        # The USCC identifies the member everywhere; it is set once, at creation.
        return [*self.readonly_fields, "uscc"] if obj is not None else self.readonly_fields

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
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

    @admin.action(description=_("Change status (with a reason)…"), permissions=["review"])
    def change_status(self, request, queryset):
        return reason_action(
            self,
            request,
            queryset,
            form_class=TransitionForm,
            title=gettext("Change the status of institutions"),
            apply=lambda obj, data: institution_transition(
                actor=Actor.operator(request.user),
                institution=obj,
                to_status=data["to_status"],
                reason=data["reason"],
                reviewer=request.user,
            ),
        )

    def has_review_permission(self, request) -> bool:
        return request.user.has_perm("members.review_institution")


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


class CredentialIssueForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"), choices=Credential.Scope.choices, widget=forms.CheckboxSelectMultiple
    )
    allowed_ips = forms.CharField(
        label=_("Allowed networks"),
        required=False,
        help_text=_("Comma-separated CIDR networks, e.g. 203.0.113.0/24; empty means any address."),
    )

    class Meta:
        model = Credential
        fields = ["institution", "name", "scopes", "allowed_ips", "expires_at"]

    def clean_allowed_ips(self) -> list[str]:
        from members.services import parse_networks

        try:
            return parse_networks(self.cleaned_data["allowed_ips"].split(","))
        except DomainError as exc:
            raise forms.ValidationError(exc.message) from exc

    def clean_expires_at(self):
        expires_at = self.cleaned_data.get("expires_at")
        if expires_at is not None and expires_at <= timezone.now():
            raise forms.ValidationError(_("The expiry must be in the future."))
        return expires_at


@admin.register(Credential)
class CredentialAdmin(admin.ModelAdmin):
    list_display = ["prefix", "institution", "name", "scopes", "state", "expires_at", "last_used_at"]
    list_filter = ["institution__status", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["=prefix", "institution__name", "=institution__uscc", "name"]
    list_select_related = ["institution"]
    autocomplete_fields = ["institution"]
    show_full_result_count = False
    actions = ["revoke"]
    readonly_fields = [
        "institution",
        "name",
        "prefix",
        "scopes",
        "allowed_ips",
        "expires_at",
        "created_at",
        "created_by",
        "revoked_at",
        "revoked_reason",
        "revoked_by",
        "last_used_at",
        "recent_events",
    ]

    @admin.display(description=_("recent audit events"))
    def recent_events(self, obj: Credential) -> str:
        # Every event of a credential concerns its institution: the institution index narrows the search.
        about = Q(object_type="members.credential", object_id=str(obj.pk))
        by = Q(actor_type=AuditEvent.ActorType.CREDENTIAL, actor_id=str(obj.pk))
        events = AuditEvent.objects.filter(about | by, institution_id=obj.institution_id).order_by("-seq")
        return audit_events_table(events[:RECENT_EVENTS])

    @admin.display(description=_("state"))
    def state(self, obj: Credential) -> str:
        if obj.is_revoked:
            return gettext("revoked")
        if obj.is_expired():
            return gettext("expired")
        return gettext("valid")

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = CredentialIssueForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def get_fields(self, request, obj=None):
        return CredentialIssueForm.Meta.fields if obj is None else self.readonly_fields

    def has_add_permission(self, request) -> bool:
        return request.user.has_perm("members.issue_credential")

    def has_change_permission(self, request, obj=None) -> bool:
        # Credentials are immutable once issued: the change page is a read-only view.
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        issued = credential_issue(
            actor=Actor.operator(request.user),
            institution=form.cleaned_data["institution"],
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            allowed_ips=form.cleaned_data["allowed_ips"],
            expires_at=form.cleaned_data["expires_at"],
        )
        obj.pk = issued.credential.pk
        # Kept on the request only, to render the one page that shows the key.
        request._issued_key = issued.key
        request._issued_credential = issued.credential

    def save_related(self, request, form, formsets, change) -> None:
        pass

    def log_addition(self, request, obj, message):
        # The audit trail records the issue; Django's LogEntry would need the saved object.
        return None

    def response_add(self, request, obj, post_url_continue=None):
        # The key is rendered into this response and nowhere else: not in a message
        # (those are stored in the session table), not in a redirect URL.
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Credential issued"),
            "credential": request._issued_credential,
            "key": request._issued_key,
            "opts": self.model._meta,
        }
        response = TemplateResponse(request, "admin/members/credential/issued.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description=_("Revoke (with a reason)…"), permissions=["revoke"])
    def revoke(self, request, queryset):
        return reason_action(
            self,
            request,
            queryset,
            form_class=ReasonForm,
            title=gettext("Revoke credentials"),
            apply=lambda obj, data: credential_revoke(
                actor=Actor.operator(request.user), credential=obj, reason=data["reason"]
            ),
        )

    def has_revoke_permission(self, request) -> bool:
        return request.user.has_perm("members.revoke_credential")


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


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "seq",
        "occurred_at",
        "actor_type",
        "actor_label",
        "action",
        "institution",
        "object_type",
        "object_repr",
    ]
    list_filter = [
        ("occurred_at", admin.DateFieldListFilter),
        "actor_type",
        AuditOperatorFilter,
        AuditInstitutionFilter,
        "action",
    ]
    list_select_related = ["institution"]
    search_fields = ["=object_id", "=actor_label", "=action"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 100
    ordering = ["-seq"]
    change_list_template = "admin/members/auditevent/change_list.html"

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
        result = audit_chain_verify()
        audit_event_record(
            actor=Actor.operator(request.user),
            action="audit.verified",
            payload={"ok": result.ok, "checked": result.checked, "broken_seq": result.broken_seq},
        )
        if result.ok:
            self.message_user(
                request,
                gettext("Audit chain intact: %(count)d events, head hash %(hash)s.")
                % {"count": result.checked, "hash": result.head_hash},
                messages.SUCCESS,
            )
        else:
            self.message_user(
                request,
                gettext("Audit chain BROKEN at event %(seq)s: %(problem)s")
                % {"seq": result.broken_seq, "problem": result.problem},
                messages.ERROR,
            )
        return HttpResponseRedirect(reverse("admin:members_auditevent_changelist"))
