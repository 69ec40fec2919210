"""Partners for operators: every member's entries with the consortium's view of each partner, the flag
queue with its 20-day answer clock, the licences by expiry; and the members' risk-policy cards."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.clock import business_today
from members.admin.common import ActorLabelsMixin, AuditLinkMixin, ReadOnlyAdminMixin, reason_action
from members.audit import Actor, audit_labels_register
from sharing.registers.models import Partner, PartnerFlag, PartnerLicence, PolicyCard
from sharing.registers.review import needs_review, review_state
from sharing.registers.selectors import partner_profile
from sharing.registers.services import ALERT_DAYS_BEFORE, flag_review


class NeedsReviewFilter(admin.SimpleListFilter):
    title = _("review")
    parameter_name = "review"

    def lookups(self, request, model_admin):
        return [("needed", _("Needs review")), ("exited", _("Partnership ended"))]

    def queryset(self, request, queryset):
        if self.value() == "exited":
            return queryset.filter(exited_on__isnull=False)
        if self.value() == "needed":
            today = business_today()
            ids = [p.pk for p in queryset.prefetch_related("licences") if needs_review(p, today=today)]
            return queryset.filter(pk__in=ids)
        return queryset


class LicenceInline(admin.TabularInline):
    model = PartnerLicence
    extra = 0
    can_delete = False
    fields = ["type", "number", "issuer", "valid_to"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Partner)
class PartnerAdmin(AuditLinkMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Members' partner entries; each page shows the consortium's view of that partner too."""

    list_display = ["uscc", "name", "member", "roles_shown", "review_shown", "agreement_expires_on", "exited_on"]
    list_filter = [NeedsReviewFilter, "roles"]
    search_fields = ["=uscc", "name", "=member__uscc"]
    list_select_related = ["member"]
    ordering = ["uscc", "member__name"]
    inlines = [LicenceInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("licences")

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "consortium_view"]

    @admin.display(description=_("roles"))
    def roles_shown(self, obj: Partner) -> str:
        labels = dict(Partner._meta.get_field("roles").base_field.choices)
        return "、".join(str(labels.get(role, role)) for role in obj.roles)

    @admin.display(description=_("review"))
    def review_shown(self, obj: Partner) -> str:
        if obj.exited_on is not None:
            return gettext("ended")
        state = review_state(obj, today=business_today())
        if state["needed"]:
            labels = {
                "licence_lapsed": gettext("licence lapsed"),
                "agreement_lapsed": gettext("agreement lapsed"),
                "due_diligence_stale": gettext("due diligence over a year old"),
            }
            return gettext("NEEDS REVIEW: %(reasons)s") % {"reasons": "、".join(labels[r] for r in state["reasons"])}
        return gettext("next review by %(date)s") % {"date": state["next_date"]}

    @admin.display(description=_("the consortium's view of this partner"))
    def consortium_view(self, obj: Partner) -> str:
        profile = partner_profile(uscc=obj.uscc, today=business_today())
        role_labels = dict(Partner._meta.get_field("roles").base_field.choices)
        entries = Partner.objects.filter(uscc=obj.uscc).select_related("member").order_by("member__name")
        flags = PartnerFlag.objects.filter(uscc=obj.uscc)
        counts = {status: flags.filter(status=status).count() for status in PartnerFlag.Status.values}
        rows = [
            (gettext("Members with an active entry"), profile["members"]),
            (
                gettext("By role"),
                "、".join(f"{role_labels.get(role, role)} {n}" for role, n in profile["roles"].items()) or "—",
            ),
            (
                gettext("Flags"),
                gettext("%(pending)d awaiting review, %(accepted)d accepted, %(rejected)d rejected")
                % {key: counts[key] for key in ("pending", "accepted", "rejected")},
            ),
            (
                gettext("Entries"),
                "；".join(f"{entry.member} ({_entry_state(entry)})" for entry in entries),
            ),
        ]
        return format_html_join(mark_safe("<br>"), "<strong>{}</strong>: {}", rows)


def _entry_state(entry: Partner) -> str:
    return gettext("ended") if entry.exited_on else gettext("active")


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(
        label=_("Decision"), choices=[("accept", _("Accept the flag")), ("reject", _("Reject the flag"))]
    )
    note = forms.CharField(label=_("Decision note"), widget=forms.Textarea(attrs={"rows": 3}), max_length=4000)


class AnswerClockFilter(admin.SimpleListFilter):
    title = _("answer clock")
    parameter_name = "clock"

    def lookups(self, request, model_admin):
        return [
            ("ready", _("Ready for review (answered or 20 days passed)")),
            ("waiting", _("Partner may still answer")),
        ]

    def queryset(self, request, queryset):
        pending = queryset.filter(status=PartnerFlag.Status.PENDING)
        today = business_today()
        if self.value() == "ready":
            return pending.exclude(answer="", answer_due__gte=today)
        if self.value() == "waiting":
            return pending.filter(answer="", answer_due__gte=today)
        return queryset


@admin.register(PartnerFlag)
class PartnerFlagAdmin(ActorLabelsMixin, AuditLinkMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """The flag queue: the partner may answer within 20 days; decide once it answered or the days passed."""

    list_display = ["id", "uscc", "partner_name", "category", "clock", "status", "member", "created_at"]
    list_filter = ["status", AnswerClockFilter, "category"]
    search_fields = ["=id", "=uscc"]
    list_select_related = ["member"]
    ordering = ["status", "answer_due", "id"]
    actions = ["review"]

    @admin.display(description=_("partner"))
    def partner_name(self, obj: PartnerFlag) -> str:
        return Partner.objects.filter(uscc=obj.uscc).order_by("-updated_at").values_list("name", flat=True).first()

    @admin.display(description=_("answer clock"))
    def clock(self, obj: PartnerFlag) -> str:
        if obj.status != PartnerFlag.Status.PENDING:
            return gettext("reviewed")
        if obj.answer:
            return gettext("answered: ready for review")
        days_left = (obj.answer_due - business_today()).days
        if days_left < 0:
            return gettext("no answer in 20 days: ready for review")
        return gettext("%(days)d day(s) left to answer") % {"days": days_left}

    @admin.action(description=_("Review (accept or reject, with a note)…"), permissions=["review"])
    def review(self, request, queryset):
        def apply(obj: PartnerFlag, data: dict) -> str:
            flag = flag_review(
                actor=Actor.operator(request.user), flag=obj, accept=data["decision"] == "accept", note=data["note"]
            )
            return gettext("Flag %(id)s: %(status)s.") % {"id": flag.pk, "status": flag.get_status_display()}

        return reason_action(
            self, request, queryset, form_class=ReviewForm, title=gettext("Review partner flags"), apply=apply
        )

    def has_review_permission(self, request) -> bool:
        return request.user.has_perm("sharing.review_partnerflag")


class ExpiryFilter(admin.SimpleListFilter):
    title = _("validity")
    parameter_name = "validity"

    def lookups(self, request, model_admin):
        return [("lapsed", _("Lapsed")), ("soon", _("Lapses within 30 days"))]

    def queryset(self, request, queryset):
        today = business_today()
        if self.value() == "lapsed":
            return queryset.filter(valid_to__lt=today)
        if self.value() == "soon":
            return queryset.filter(valid_to__gte=today, valid_to__lte=today + dt.timedelta(days=ALERT_DAYS_BEFORE))
        return queryset


@admin.register(PartnerLicence)
class PartnerLicenceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Licences of active partner entries, soonest expiry first."""

    list_display = ["valid_to", "validity", "type", "number", "issuer", "partner", "member"]
    list_filter = [ExpiryFilter, "type"]
    search_fields = ["=partner__uscc", "number"]
    list_select_related = ["partner__member"]
    ordering = ["valid_to", "id"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(partner__exited_on__isnull=True)

    @admin.display(description=_("member"))
    def member(self, obj: PartnerLicence) -> str:
        return str(obj.partner.member)

    @admin.display(description=_("validity"))
    def validity(self, obj: PartnerLicence) -> str:
        days = (obj.valid_to - business_today()).days
        if days < 0:
            return format_html("<strong>{}</strong>", gettext("LAPSED %(days)d day(s) ago") % {"days": -days})
        return gettext("%(days)d day(s) left") % {"days": days}


@admin.register(PolicyCard)
class PolicyCardAdmin(AuditLinkMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Published risk-policy cards, every version (immutable, signed)."""

    list_display = ["member", "version", "effective_from", "max_credit_line", "max_annual_rate", "published_at"]
    search_fields = ["=member__uscc", "member__name"]
    list_select_related = ["member"]
    ordering = ["member__name", "-version"]
    exclude = ["document", "signature"]


# What operators read for this package's audit action codes (stored in English: they are hashed into the
# audit chain).
audit_labels_register(
    actions={
        "partner.exited": _("Partnership ended"),
        "partner.profile_viewed": _("Partner profile viewed"),
        "partner.registered": _("Partner registered"),
        "partner.updated": _("Partner entry updated"),
        "partner_flag.answered": _("Partner's answer to a flag relayed"),
        "partner_flag.filed": _("Partner flagged"),
        "partner_flag.reviewed": _("Partner flag reviewed"),
        "partners.review_alerted": _("Partner review alerts sent"),
        "policy_card.published": _("Risk-policy card published"),
    },
    system_actors={
        "partner review": _("partner review alerts"),
    },
)
