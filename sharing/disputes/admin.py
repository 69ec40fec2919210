"""The dispute queue, ordered by due date, and the page that settles one dispute."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.clock import business_today
from core.errors import DomainError
from members.admin.common import (
    ActorLabelsMixin,
    AuditLinkMixin,
    FormAlreadyUsed,
    ReadOnlyAdminMixin,
    SingleUseField,
    already_used_response,
    reason_action,
    single_use_claim,
    single_use_done,
    single_use_nonce,
)
from members.audit import Actor, audit_labels_register
from sharing.disputes.models import Dispute, DisputedRecord
from sharing.disputes.services import dispute_settle, due_soon_days
from sharing.records.models import Record, RecordIdentifier
from sharing.tokens.admin import id_type_label, short_token

SETTLE_FORM = "dispute.settle"


class DeadlineFilter(admin.SimpleListFilter):
    title = _("deadline")
    parameter_name = "deadline"

    def lookups(self, request, model_admin):
        return [("due_soon", _("Due soon (day 15–20)")), ("overdue", _("Overdue (after day 20)"))]

    def queryset(self, request, queryset):
        today = business_today()
        warn = dt.timedelta(days=due_soon_days())
        if self.value() == "due_soon":
            return queryset.filter(status=Dispute.Status.OPEN, due_date__gte=today, due_date__lte=today + warn)
        if self.value() == "overdue":
            return queryset.filter(status=Dispute.Status.OPEN, due_date__lt=today)
        return queryset


class SettleForm(forms.Form):
    outcome = forms.ChoiceField(
        label=_("Outcome"),
        choices=[(value, label) for value, label in Dispute.Status.choices if value != Dispute.Status.OPEN],
        help_text=_(
            "Corrected: the record was corrected or is retracted now. Confirmed: it stands and the mark is "
            "lifted. Unverifiable: record and objection both stay visible until the record ends."
        ),
    )
    note = forms.CharField(label=_("Decision note"), widget=forms.Textarea(attrs={"rows": 3}), max_length=4000)
    retract_reason = forms.CharField(
        label=_("Retract the records still standing, with this reason"),
        required=False,
        max_length=2000,
        help_text=_("Only with 'corrected', when the reporting member has not corrected the record itself."),
    )


class SingleUseSettleForm(SettleForm):
    form_nonce = SingleUseField(SETTLE_FORM)


def settled_message(dispute: Dispute) -> str:
    return gettext("Dispute %(id)s settled: %(outcome)s.") % {"id": dispute.pk, "outcome": dispute.get_status_display()}


def covered_records(dispute: Dispute) -> list[dict]:
    """The records a dispute covers, with their reporting member and shortened tokens (purged ones too)."""
    links = list(DisputedRecord.objects.filter(dispute_id=dispute.pk).values_list("record_id", flat=True))
    records = {record.pk: record for record in Record.objects.filter(pk__in=links).select_related("member")}
    tokens: dict[int, list[str]] = {}
    for record_id, id_type, token in RecordIdentifier.objects.filter(record_id__in=links).values_list(
        "record_id", "id_type", "token"
    ):
        tokens.setdefault(record_id, []).append(f"{id_type_label(id_type)}: {short_token(token)}")
    return [
        {"id": record_id, "record": records.get(record_id), "tokens": tokens.get(record_id, [])} for record_id in links
    ]


@admin.register(Dispute)
class DisputeAdmin(ActorLabelsMixin, AuditLinkMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    actor_fields = ("settled_by",)
    """The dispute queue, ordered by due date: settle within 20 calendar days of receipt."""

    list_display = ["id", "deadline", "due_date", "status", "member", "records_disputed", "received_at"]
    list_filter = ["status", DeadlineFilter]
    search_fields = ["=id", "=member__uscc"]
    list_select_related = ["member"]
    ordering = ["due_date", "id"]
    actions = ["settle"]
    change_form_template = "admin/sharing/dispute/change_form.html"

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "records_covered"]

    def get_urls(self):
        return [
            path(
                "<int:dispute_id>/settle/",
                self.admin_site.admin_view(self.settle_view),
                name="sharing_dispute_settle",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = {"can_settle": self.has_settle_permission(request)}
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    @admin.display(description=_("records covered"))
    def records_covered(self, obj: Dispute) -> str:
        rows = []
        for item in covered_records(obj):
            record = item["record"]
            if record is None:
                rows.append((item["id"], gettext("purged"), "", ""))
                continue
            url = reverse("admin:sharing_record_change", args=[item["id"]])
            rows.append(
                (
                    format_html('<a href="{}">{}</a>', url, item["id"]),
                    record.get_status_display(),
                    record,
                    "；".join(item["tokens"]),
                )
            )
        return format_html_join(mark_safe("<br>"), "{} — {} — {} — {}", rows)

    @admin.display(description=_("deadline"))
    def deadline(self, obj: Dispute) -> str:
        if obj.status != Dispute.Status.OPEN:
            return gettext("settled")
        days_left = (obj.due_date - business_today()).days
        if days_left < 0:
            return gettext("OVERDUE by %(days)d day(s)") % {"days": -days_left}
        if days_left <= due_soon_days():
            return gettext("due soon: %(days)d day(s) left") % {"days": days_left}
        return gettext("%(days)d day(s) left") % {"days": days_left}

    def settle_view(self, request: HttpRequest, dispute_id: int):
        if not self.has_settle_permission(request):
            raise PermissionDenied
        dispute = Dispute.objects.select_related("member").filter(pk=dispute_id).first()
        if dispute is None:
            raise Http404
        change_url = reverse("admin:sharing_dispute_change", args=[dispute.pk])
        if request.method == "POST":
            form = SingleUseSettleForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                try:
                    with transaction.atomic():
                        use = single_use_claim(request, purpose=SETTLE_FORM, nonce=data["form_nonce"])
                        settled = dispute_settle(
                            actor=Actor.operator(request.user),
                            dispute=dispute,
                            outcome=data["outcome"],
                            note=data["note"],
                            retract_reason=data["retract_reason"],
                        )
                        single_use_done(use, settled)
                except FormAlreadyUsed as exc:
                    return already_used_response(
                        request,
                        self,
                        exc.use,
                        explanation=gettext("Nothing was changed now: this dispute was settled from this form."),
                    )
                except DomainError as exc:
                    form.add_error(None, exc.message)
                else:
                    self.message_user(request, settled_message(settled), messages.SUCCESS)
                    return HttpResponseRedirect(change_url)
        else:
            form = SingleUseSettleForm(initial={"form_nonce": single_use_nonce(request, SETTLE_FORM)})
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Settle %(dispute)s") % {"dispute": dispute},
            "dispute": dispute,
            "records": covered_records(dispute),
            "deadline": self.deadline(dispute),
            "form": form,
            "change_url": change_url,
            "opts": self.model._meta,
            "original": dispute,
        }
        return TemplateResponse(request, "admin/sharing/dispute/settle.html", context)

    @admin.action(description=_("Settle (with outcome and note)…"), permissions=["settle"])
    def settle(self, request, queryset):
        def apply(obj: Dispute, data: dict) -> str:
            settled = dispute_settle(
                actor=Actor.operator(request.user),
                dispute=obj,
                outcome=data["outcome"],
                note=data["note"],
                retract_reason=data["retract_reason"],
            )
            return settled_message(settled)

        return reason_action(
            self, request, queryset, form_class=SettleForm, title=gettext("Settle disputes"), apply=apply
        )

    def has_settle_permission(self, request) -> bool:
        return request.user.has_perm("sharing.settle_dispute")


# What operators read for this package's audit action codes (stored in English: they are hashed into the
# audit chain).
audit_labels_register(
    actions={
        "dispute.filed": _("Dispute filed"),
        "dispute.settled": _("Dispute settled"),
        "dispute.due_soon": _("Dispute due soon"),
        "dispute.overdue": _("Dispute overdue"),
    },
    system_actors={
        "disputes": _("dispute deadlines"),
    },
)
