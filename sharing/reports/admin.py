"""Self-inspection reports: generated from a single-use form, downloaded (audited)."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError
from members.admin.common import (
    ActorLabelsMixin,
    AuditLinkMixin,
    FormAlreadyUsed,
    ReadOnlyAdminMixin,
    SingleUseField,
    already_used_response,
    period_label,
    single_use_claim,
    single_use_nonce,
)
from members.audit import Actor, audit_labels_register
from members.models import Institution
from sharing.reports.models import Report
from sharing.reports.services import previous_month, report_download, report_generate, reports_generate

GENERATE_FORM = "report.generate"


class ReportGenerateForm(forms.Form):
    members = forms.ModelMultipleChoiceField(
        label=_("Members"),
        queryset=Institution.objects.order_by("name"),
        required=False,
        help_text=_("Leave empty to generate for every active member."),
    )
    period_start = forms.DateField(label=_("First day"), help_text=_("Asia/Shanghai."))
    last_day = forms.DateField(label=_("Last day"), help_text=_("Included in the report."))
    form_nonce = SingleUseField(GENERATE_FORM)

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            start, end = previous_month()
            self.initial.update(
                period_start=start,
                last_day=end - dt.timedelta(days=1),
                form_nonce=single_use_nonce(request, GENERATE_FORM),
            )

    def clean(self):
        data = super().clean()
        # Operators name the last day; the services take the half-open period [start, end).
        if data.get("last_day"):
            data["period_end"] = data["last_day"] + dt.timedelta(days=1)
        return data


class PeriodFilter(admin.SimpleListFilter):
    title = _("period")
    parameter_name = "period"

    def lookups(self, request, model_admin):
        periods = Report.objects.order_by("-period_start").values_list("period_start", "period_end").distinct()[:24]
        return [(f"{start}_{end}", period_label(start, end)) for start, end in periods]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        start, _sep, end = self.value().partition("_")
        return queryset.filter(period_start=start, period_end=end)


@admin.register(Report)
class ReportAdmin(ActorLabelsMixin, AuditLinkMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    actor_fields = ("generated_by",)
    """Generated self-inspection reports; operators generate any member/period and download (audited)."""

    list_display = ["member", "period", "status", "generated_at", "download"]
    list_filter = ["status", PeriodFilter]
    search_fields = ["member__name", "=member__uscc"]
    list_select_related = ["member"]
    show_full_result_count = False
    exclude = ["content", "summary"]
    actions = ["regenerate"]
    change_list_template = "admin/sharing/report/change_list.html"

    def get_queryset(self, request):
        return super().get_queryset(request).defer("content", "summary")

    def get_readonly_fields(self, request, obj=None):
        fields = [f.name for f in self.model._meta.fields if f.name not in ("content", "summary")]
        return self._shown(["period", *fields, "download"])

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

    @admin.display(description=_("period"), ordering="period_start")
    def period(self, obj: Report) -> str:
        return period_label(obj.period_start, obj.period_end)

    @admin.display(description=_("file"))
    def download(self, obj: Report) -> str:
        if obj.status != Report.Status.READY:
            return "—"
        url = reverse("admin:sharing_report_download", args=[obj.pk])
        return format_html(
            '<a href="{}" style="white-space:nowrap">{}</a> ({} KB)', url, gettext("Download"), -(-obj.size // 1024)
        )

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
        form = ReportGenerateForm(request.POST or None, request=request)
        if request.method == "POST" and form.is_valid():
            members = list(form.cleaned_data["members"]) or list(
                Institution.objects.filter(status=Institution.Status.ACTIVE).order_by("pk")
            )
            try:
                reports = self._generate_once(request, form.cleaned_data, members)
            except FormAlreadyUsed as exc:
                return already_used_response(
                    request,
                    self,
                    exc.use,
                    explanation=gettext("Nothing was generated now: the reports of this form were generated once."),
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(
                    request,
                    gettext("%(count)d report(s) generated for %(period)s.")
                    % {
                        "count": len(reports),
                        "period": period_label(form.cleaned_data["period_start"], form.cleaned_data["period_end"]),
                    },
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:sharing_report_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Generate self-inspection reports"),
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/sharing/report/generate.html", context)

    def _generate_once(self, request, data: dict, members: list[Institution]) -> list[Report]:
        """Claim the form and generate in one transaction, read at one snapshot as reports_generate wants."""
        outermost = not connection.in_atomic_block
        with transaction.atomic():
            if outermost:
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            use = single_use_claim(request, purpose=GENERATE_FORM, nonce=data["form_nonce"])
            reports = reports_generate(
                members=members,
                period_start=data["period_start"],
                period_end=data["period_end"],
                actor=Actor.operator(request.user),
            )
            use.object_repr = gettext("%(count)d report(s) for %(period)s") % {
                "count": len(reports),
                "period": period_label(data["period_start"], data["period_end"]),
            }
            use.save(update_fields=["object_repr"])
        return reports

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
            self.message_user(request, gettext("%(count)d report(s) regenerated.") % {"count": done}, messages.SUCCESS)


# What operators read for this package's audit action codes (stored in English: they are hashed into the
# audit chain).
audit_labels_register(
    actions={
        "report.downloaded": _("Report downloaded"),
        "report.generated": _("Report generated"),
        "report.regenerated": _("Report regenerated"),
    },
    system_actors={
        "monthly self-inspection reports": _("monthly self-inspection reports"),
    },
)
