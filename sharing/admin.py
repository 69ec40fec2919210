import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.clock import business_today
from core.errors import DomainError
from members.admin import EstimatedCountPaginator, ReadOnlyAdminMixin, ReasonForm, reason_action
from members.audit import Actor, audit_event_record
from members.models import Institution
from sharing.models import (
    Alert,
    Batch,
    ConsortiumKey,
    Dispute,
    DisputedRecord,
    LookupQuota,
    MemberFlag,
    Record,
    RecordIdentifier,
    Report,
)
from sharing.services.disputes import dispute_settle, due_soon_days
from sharing.services.keys import consortium_key_retire
from sharing.services.quotas import lookup_quota_set
from sharing.services.reports import previous_month, report_download, report_generate, reports_generate


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


def short_token(token) -> str:
    """Enough of a peppered token to tell two apart on a screen, not enough to be worth copying."""
    return bytes(token).hex()[:12] + "…"


@admin.register(Record)
class RecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Members' records, read-only. Opening one is itself an audit event naming the operator."""

    list_display = ["id", "member", "reference", "kind", "category", "status", "event_date", "resolved_date"]
    list_filter = ["status", "kind", "category"]
    search_fields = ["=id", "=reference", "=member__uscc"]
    list_select_related = ["member"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    exclude = ["identifiers_digest"]

    def get_readonly_fields(self, request, obj=None):
        fields = [field.name for field in self.model._meta.fields if field.name != "identifiers_digest"]
        return [*fields, "identifiers_shortened"]

    @admin.display(description=_("identifiers (peppered tokens, shortened)"))
    def identifiers_shortened(self, obj: Record) -> str:
        # Composite-key rows have no admin of their own (Django 5.2): listed here instead.
        identifiers = RecordIdentifier.objects.filter(record_id=obj.pk).values_list("id_type", "token")
        return format_html_join(
            mark_safe("<br>"), "{}: {}", ((id_type, short_token(token)) for id_type, token in identifiers)
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        if request.method == "GET" and response.status_code == 200:
            record = Record.objects.filter(pk=object_id).only("pk", "member_id", "reference").first()
            if record is not None:
                audit_event_record(actor=Actor.operator(request.user), action="record.viewed", obj=record)
        return response


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


@admin.register(Dispute)
class DisputeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The dispute queue, ordered by due date: settle within 20 calendar days of receipt."""

    list_display = ["id", "deadline", "due_date", "status", "member", "records_disputed", "received_at"]
    list_filter = ["status", DeadlineFilter]
    search_fields = ["=id", "=member__uscc"]
    list_select_related = ["member"]
    ordering = ["due_date", "id"]
    actions = ["settle"]

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "records_covered"]

    @admin.display(description=_("records covered"))
    def records_covered(self, obj: Dispute) -> str:
        links = DisputedRecord.objects.filter(dispute_id=obj.pk).values_list("record_id", flat=True)
        records = {record.pk: record for record in Record.objects.filter(pk__in=list(links)).select_related()}
        rows = []
        for record_id in links:
            record = records.get(record_id)
            if record is None:
                rows.append((record_id, gettext("purged"), ""))
            else:
                url = reverse("admin:sharing_record_change", args=[record_id])
                rows.append((format_html('<a href="{}">{}</a>', url, record_id), record.get_status_display(), record))
        return format_html_join(mark_safe("<br>"), "{} — {} — {}", rows)

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

    @admin.action(description=_("Settle (with outcome and note)…"), permissions=["settle"])
    def settle(self, request, queryset):
        return reason_action(
            self,
            request,
            queryset,
            form_class=SettleForm,
            title=gettext("Settle disputes"),
            apply=lambda obj, data: dispute_settle(
                actor=Actor.operator(request.user),
                dispute=obj,
                outcome=data["outcome"],
                note=data["note"],
                retract_reason=data["retract_reason"],
            ),
        )

    def has_settle_permission(self, request) -> bool:
        return request.user.has_perm("sharing.settle_dispute")


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Alerts members receive through the API (read-only)."""

    list_display = ["id", "created_at", "member", "kind", "acknowledged_at"]
    list_filter = ["kind", ("acknowledged_at", admin.EmptyFieldListFilter)]
    search_fields = ["=member__uscc"]
    list_select_related = ["member"]
    show_full_result_count = False


class ReportGenerateForm(forms.Form):
    members = forms.ModelMultipleChoiceField(
        label=_("Members"),
        queryset=Institution.objects.order_by("name"),
        required=False,
        help_text=_("Leave empty to generate for every active member."),
    )
    period_start = forms.DateField(label=_("Period start"), help_text=_("First day (Asia/Shanghai)."))
    period_end = forms.DateField(label=_("Period end"), help_text=_("Day after the last day."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            start, end = previous_month()
            self.initial.update(period_start=start, period_end=end)


@admin.register(Report)
class ReportAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Generated self-inspection reports; operators generate any member/period and download (audited)."""

    list_display = ["member", "period_start", "period_end", "status", "generated_at", "generated_by", "download"]
    list_filter = ["status", "period_start"]
    search_fields = ["member__name", "=member__uscc"]
    list_select_related = ["member"]
    show_full_result_count = False
    exclude = ["content", "summary"]
    actions = ["regenerate"]
    change_list_template = "admin/sharing/report/change_list.html"

    def get_queryset(self, request):
        return super().get_queryset(request).defer("content", "summary")

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if f.name not in ("content", "summary")] + ["download"]

    def get_urls(self):
        return [
            path("generate/", self.admin_site.admin_view(self.generate_view), name="sharing_report_generate"),
            path(
                "<int:report_id>/download/",
                self.admin_site.admin_view(self.download_view),
                name="sharing_report_download",
            ),
            *super().get_urls(),
        ]

    @admin.display(description=_("file"))
    def download(self, obj: Report) -> str:
        if obj.status != Report.Status.READY:
            return "—"
        url = reverse("admin:sharing_report_download", args=[obj.pk])
        return format_html('<a href="{}">{}</a> ({} B)', url, gettext("Download"), obj.size)

    def has_generate_permission(self, request) -> bool:
        return request.user.has_perm("sharing.generate_report")

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "has_generate_permission": self.has_generate_permission(request)}
        return super().changelist_view(request, extra_context)

    def download_view(self, request: HttpRequest, report_id: int):
        if not self.has_view_permission(request):
            raise PermissionDenied
        report = self.get_queryset(request).filter(pk=report_id, status=Report.Status.READY).first()
        if report is None:
            raise Http404
        content = report_download(report=report, actor=Actor.operator(request.user), channel="admin")
        response = HttpResponse(content, content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{report.filename}"'
        response["Cache-Control"] = "no-store"
        return response

    def generate_view(self, request: HttpRequest):
        if not self.has_generate_permission(request):
            raise PermissionDenied
        form = ReportGenerateForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            members = list(form.cleaned_data["members"]) or list(
                Institution.objects.filter(status=Institution.Status.ACTIVE).order_by("pk")
            )
            try:
                reports = reports_generate(
                    members=members,
                    period_start=form.cleaned_data["period_start"],
                    period_end=form.cleaned_data["period_end"],
                    actor=Actor.operator(request.user),
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(
                    request, gettext("%(count)d report(s) generated.") % {"count": len(reports)}, messages.SUCCESS
                )
                return HttpResponseRedirect(reverse("admin:sharing_report_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Generate self-inspection reports"),
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/sharing/report/generate.html", context)

    @admin.action(description=_("Regenerate (replaces the file)"), permissions=["generate"])
    def regenerate(self, request, queryset):
        done = 0
        for report in queryset.select_related("member"):
            try:
                report_generate(
                    member=report.member,
                    period_start=report.period_start,
                    period_end=report.period_end,
                    actor=Actor.operator(request.user),
                )
                done += 1
            except DomainError as exc:
                self.message_user(request, f"{report}: {exc.message}", messages.ERROR)
        if done:
            self.message_user(request, gettext("%(count)d report(s) generated.") % {"count": done}, messages.SUCCESS)


from sharing import admin_monitoring  # noqa: E402, F401 - post-loan monitoring's admin registers itself
