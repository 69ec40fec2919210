"""Credentials: issued from a single-use form whose answer shows the key once, revoked with a reason."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import admin
from django.db.models import Q
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError
from members.admin.common import (
    RECENT_EVENTS,
    ActorLabelsMixin,
    AuditLinkMixin,
    FormAlreadyUsed,
    ReasonForm,
    SingleUseField,
    already_used_response,
    audit_events_table,
    reason_action,
    single_use_claim,
    single_use_done,
    single_use_nonce,
)
from members.audit import Actor
from members.models import AuditEvent, Credential
from members.services import credential_issue, credential_revoke, parse_networks

ISSUE_FORM = "credential.issue"


SCOPE_SHORT = {
    "records:write": _("submit"),
    "lookups": _("look up"),
    "reports:read": _("reports"),
    "disputes": _("disputes"),
}


def scope_labels(scopes: list[str]) -> str:
    labels = dict(Credential.Scope.choices)
    return "、".join(str(labels.get(scope, scope)) for scope in scopes)


class CredentialIssueForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"), choices=Credential.Scope.choices, widget=forms.CheckboxSelectMultiple
    )
    allowed_ips = forms.CharField(
        label=_("Allowed networks"),
        required=False,
        help_text=_("Comma-separated CIDR networks, e.g. 203.0.113.0/24; empty means any address."),
    )
    form_nonce = SingleUseField(ISSUE_FORM)

    class Meta:
        model = Credential
        fields = ["institution", "name", "scopes", "allowed_ips", "expires_at"]

    def clean_allowed_ips(self) -> list[str]:
        try:
            return parse_networks(self.cleaned_data["allowed_ips"].split(","))
        except DomainError as exc:
            raise forms.ValidationError(exc.message) from exc

    def clean_expires_at(self):
        expires_at = self.cleaned_data.get("expires_at")
        if expires_at is not None and expires_at <= timezone.now():
            raise forms.ValidationError(_("The expiry must be in the future."))
        return expires_at


class ExpiryFilter(admin.SimpleListFilter):
    title = _("expiry")
    parameter_name = "expiring"

    def lookups(self, request, model_admin):
        return [("30", _("Valid, expiring within 30 days")), ("expired", _("Expired"))]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "30":
            return queryset.filter(
                revoked_at__isnull=True, expires_at__gt=now, expires_at__lte=now + dt.timedelta(days=30)
            )
        if self.value() == "expired":
            return queryset.filter(expires_at__lte=now)
        return queryset


@admin.register(Credential)
class CredentialAdmin(ActorLabelsMixin, AuditLinkMixin, admin.ModelAdmin):
    actor_fields = ("created_by", "revoked_by")
    list_display = ["prefix", "institution_name", "name", "scope_short", "state", "expires_at", "last_used_at"]
    list_filter = ["institution__status", ExpiryFilter, ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["=prefix", "institution__name", "=institution__uscc", "name"]
    list_select_related = ["institution"]
    autocomplete_fields = ["institution"]
    show_full_result_count = False
    actions = ["revoke"]
    readonly_fields = [
        "institution",
        "name",
        "prefix",
        "scope_list",
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

    @admin.display(description=_("scopes"))
    def scope_list(self, obj: Credential) -> str:
        return scope_labels(obj.scopes)

    @admin.display(description=_("scopes"))
    def scope_short(self, obj: Credential) -> str:
        # The list stays narrow at 1366 px: one word a scope (the change page has the full labels).
        return "、".join(str(SCOPE_SHORT.get(scope, scope)) for scope in obj.scopes)

    @admin.display(description=_("institution"), ordering="institution__name")
    def institution_name(self, obj: Credential) -> str:
        return obj.institution.name

    @admin.display(description=_("recent audit events"))
    def recent_events(self, obj: Credential) -> str:
        # Every event of a credential concerns its institution: the institution index narrows the search.
        about = Q(object_type="members.credential", object_id=str(obj.pk))
        by = Q(actor_type=AuditEvent.ActorType.CREDENTIAL, actor_id=str(obj.pk))
        events = AuditEvent.objects.filter(about | by, institution_id=obj.institution_id).order_by("-seq", "-id")
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

    def get_changeform_initial_data(self, request):
        # A fresh nonce with every rendering of the empty form; a re-rendered invalid form keeps its own.
        return {**super().get_changeform_initial_data(request), "form_nonce": single_use_nonce(request, ISSUE_FORM)}

    def get_readonly_fields(self, request, obj=None):
        return self._shown(self.readonly_fields) if obj is not None else []

    def get_fields(self, request, obj=None):
        return [*CredentialIssueForm.Meta.fields, "form_nonce"] if obj is None else self._shown(self.readonly_fields)

    def has_add_permission(self, request) -> bool:
        return request.user.has_perm("members.issue_credential")

    def has_change_permission(self, request, obj=None) -> bool:
        # Credentials are immutable once issued: the change page is a read-only view.
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        # Django runs the add view in one transaction: the nonce is claimed in the one that issues.
        try:
            use = single_use_claim(request, purpose=ISSUE_FORM, nonce=form.cleaned_data["form_nonce"])
        except FormAlreadyUsed as exc:
            request._form_already_used = exc
            return
        issued = credential_issue(
            actor=Actor.operator(request.user),
            institution=form.cleaned_data["institution"],
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            allowed_ips=form.cleaned_data["allowed_ips"],
            expires_at=form.cleaned_data["expires_at"],
        )
        single_use_done(use, issued.credential)
        obj.pk = issued.credential.pk
        # Kept on the request only, to render the one page that shows the key.
        request._issued_key = issued.key
        request._issued_credential = issued.credential

    def save_related(self, request, form, formsets, change) -> None:
        pass

    def log_addition(self, request, obj, message):
        # The audit trail records the issue (the history button leads there); no LogEntry.
        return None

    def response_add(self, request, obj, post_url_continue=None):
        already = getattr(request, "_form_already_used", None)
        if already is not None:
            return already_used_response(
                request,
                self,
                already.use,
                explanation=gettext(
                    "Nothing was issued now. The key of the credential this form issued was shown once, on the "
                    "page that answered it; if nobody copied it, revoke that credential and issue a new one."
                ),
            )
        # The key is rendered into this response and nowhere else: not in a message
        # (those are stored in the session table), not in a redirect URL.
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Credential issued"),
            "credential": request._issued_credential,
            "scopes": scope_labels(request._issued_credential.scopes),
            "key": request._issued_key,
            "opts": self.model._meta,
        }
        response = TemplateResponse(request, "admin/members/credential/issued.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description=_("Revoke (with a reason)…"), permissions=["revoke"])
    def revoke(self, request, queryset):
        def apply(obj: Credential, data: dict) -> str:
            credential_revoke(actor=Actor.operator(request.user), credential=obj, reason=data["reason"])
            return gettext("Credential %(object)s of %(institution)s revoked.") % {
                "object": obj,
                "institution": obj.institution.name,
            }

        return reason_action(
            self, request, queryset, form_class=ReasonForm, title=gettext("Revoke credentials"), apply=apply
        )

    def has_revoke_permission(self, request) -> bool:
        return request.user.has_perm("members.revoke_credential")
