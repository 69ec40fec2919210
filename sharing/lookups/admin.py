"""The lookup log (read-only) and members' lookup quotas."""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.contrib import admin
from django.urls import path
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from members.admin.common import ActorLabelsMixin, AuditLinkMixin, EstimatedCountPaginator, ReadOnlyAdminMixin
from members.audit import Actor, audit_labels_register
from members.models import Institution
from sharing.lookups.models import Lookup, LookupEntry, LookupQuota, MemberFlag
from sharing.lookups.quotas import lookup_quota_set
from sharing.tokens.admin import short_token

ENTRIES_SHOWN = 100


class LookupMemberFilter(admin.SimpleListFilter):
    title = _("member")
    parameter_name = "member"

    def lookups(self, request, model_admin):
        return [(str(pk), name) for pk, name in Institution.objects.order_by("name").values_list("pk", "name")]

    def queryset(self, request, queryset):
        return queryset.filter(member_id=self.value()) if self.value() else queryset


class WithoutConsentFilter(admin.SimpleListFilter):
    """Lookups whose purpose needs the subject's consent but that named no consent reference."""

    title = _("consent reference")
    parameter_name = "consent"

    def lookups(self, request, model_admin):
        return [("missing", _("Without consent reference")), ("given", _("With consent reference"))]

    def queryset(self, request, queryset):
        if self.value() == "missing":
            return queryset.filter(consent_reference="")
        if self.value() == "given":
            return queryset.exclude(consent_reference="")
        return queryset


@admin.register(Lookup)
class LookupAdmin(AuditLinkMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every lookup members made, read-only; the sealed answer stays sealed."""

    list_display = ["id", "created_at", "member", "credential", "purpose", "consent_reference", "identifiers", "hits"]
    list_filter = [LookupMemberFilter, "purpose", ("created_at", admin.DateFieldListFilter), WithoutConsentFilter]
    search_fields = ["=id", "=consent_reference"]
    list_select_related = ["member", "credential"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    ordering = ["-id"]
    fields = [
        "id",
        "created_at",
        "member",
        "credential",
        "purpose",
        "consent_reference",
        "key_version",
        "identifiers",
        "hits",
        "entries_shortened",
    ]

    change_list_template = "admin/sharing/lookup/change_list.html"

    def get_queryset(self, request):
        return super().get_queryset(request).defer("answer")

    # Operator screens of later packages mounted under this changelist, added by registration (the desk's
    # subject search, sharing.desk.subjects): (route, view taking (modeladmin, request), URL name).
    extra_views: list[tuple[str, Callable, str]] = []

    def get_urls(self):
        mounted = [
            path(route, self.admin_site.admin_view(functools.partial(view, self)), name=name)
            for route, view, name in self.extra_views
        ]
        return [*mounted, *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        extra = {"can_search_subject": request.user.has_perm("sharing.search_subject")}
        return super().changelist_view(request, {**extra, **(extra_context or {})})

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    @admin.display(description=_("identifiers (peppered tokens, shortened)"))
    def entries_shortened(self, obj: Lookup) -> str:
        entries = LookupEntry.objects.filter(lookup_id=obj.pk).order_by("position")[:ENTRIES_SHOWN]
        rows = [
            (entry.position, short_token(entry.token), gettext("hit") if entry.hit else gettext("miss"))
            for entry in entries
        ]
        more = obj.identifiers - len(rows)
        tail = gettext("… and %(count)d more") % {"count": more} if more > 0 else ""
        return format_html_join(mark_safe("<br>"), "{}. {} {}", rows) + tail


@admin.register(LookupQuota)
class LookupQuotaAdmin(ActorLabelsMixin, admin.ModelAdmin):
    actor_fields = ("updated_by",)
    """A member's lookup limits; without a row here the platform defaults apply."""

    list_display = ["member", "requests_per_minute", "identifiers_per_day", "updated_at", "updated_by"]
    search_fields = ["member__name", "=member__uscc"]
    autocomplete_fields = ["member"]
    list_select_related = ["member"]
    fields = ["member", "requests_per_minute", "identifiers_per_day", "updated_at", "updated_by"]
    readonly_fields = ["updated_at", "updated_by"]

    def get_readonly_fields(self, request, obj=None):
        fields = self._shown(self.readonly_fields)
        return [*fields, "member"] if obj is not None else fields

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        # Setting a quota is an upsert to the same values: a resubmitted form changes nothing twice.
        quota = lookup_quota_set(
            actor=Actor.operator(request.user),
            member=obj.member,
            requests_per_minute=form.cleaned_data["requests_per_minute"],
            identifiers_per_day=form.cleaned_data["identifiers_per_day"],
        )
        obj.pk = quota.pk

    def log_addition(self, request, obj, message):
        # The audit trail records the change (the history button leads there); no LogEntry.
        return None

    def log_change(self, request, obj, message):
        return None


@admin.register(MemberFlag)
class MemberFlagAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Raised automatically; each one also has an audit event."""

    list_display = ["created_at", "member", "kind", "detail"]
    list_filter = ["kind", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["member__name", "=member__uscc"]
    list_select_related = ["member"]
    show_full_result_count = False


# What operators read for this package's audit action codes (stored in English: they are hashed into the
# audit chain).
audit_labels_register(
    actions={
        "lookup.performed": _("Lookup performed"),
        "lookup_quota.set": _("Lookup quota set"),
        "member.flagged": _("Member flagged"),
    },
    system_actors={
        "enumeration watch": _("enumeration watch"),
    },
)
