"""Batches and records (read-only; opening a record is itself an audit event), flags and alerts."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from members.admin.common import AuditLinkMixin, EstimatedCountPaginator, ReadOnlyAdminMixin
from members.audit import Actor, audit_event_record, audit_labels_register
from sharing.records.models import Batch, Record, RecordIdentifier, SummaryCheck, relief_running
from sharing.tokens.admin import id_type_label, short_token


class StuckFilter(admin.SimpleListFilter):
    """Batches still received/processing after the sweep interval: the sweep should have re-enqueued them."""

    title = _("progress")
    parameter_name = "stuck"

    def lookups(self, request, model_admin):
        return [("1", _("Stuck past the sweep interval"))]

    def queryset(self, request, queryset):
        if self.value() == "1":
            return queryset.filter(
                status__in=[Batch.Status.RECEIVED, Batch.Status.PROCESSING], updated_at__lt=stuck_before()
            )
        return queryset


class ReliefFilter(admin.SimpleListFilter):
    """Records under a relief arrangement (展期、延期还款、债务重组): still running, or ended."""

    title = _("relief arrangement")
    parameter_name = "relief_state"

    def lookups(self, request, model_admin):
        return [("running", _("Relief running")), ("ended", _("Relief ended"))]

    def queryset(self, request, queryset):
        if self.value() == "running":
            return queryset.filter(relief_running())
        if self.value() == "ended":
            return queryset.exclude(relief="").exclude(relief_running())
        return queryset


def stuck_before() -> dt.datetime:
    return timezone.now() - dt.timedelta(seconds=settings.RISKSHARE_BATCH_STALE_AFTER)


@admin.register(Batch)
class BatchAdmin(AuditLinkMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Submitted batches, to spot one that is stuck (the sweep re-enqueues those after a few minutes)."""

    list_display = ["id", "member", "status", "received", "accepted", "rejected", "attempts", "created_at"]
    list_filter = ["status", StuckFilter]
    search_fields = ["=id", "=member__uscc"]
    list_select_related = ["member"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    exclude = ["errors"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields if field.name != "errors"]


@admin.register(Record)
class RecordAdmin(AuditLinkMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Members' records, read-only. Opening one is itself an audit event naming the operator."""

    list_display = [
        "id",
        "member",
        "reference",
        "kind",
        "category",
        "status",
        "event_date",
        "resolved_date",
        "relief_shown",
    ]
    list_filter = ["status", "kind", "category", ReliefFilter, "relief"]
    search_fields = ["=id", "=reference", "=member__uscc"]
    list_select_related = ["member"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    exclude = ["identifiers_digest", "identifier_types"]

    def get_readonly_fields(self, request, obj=None):
        skip = {"identifiers_digest", "identifier_types"}
        fields = [field.name for field in self.model._meta.fields if field.name not in skip]
        return [*fields, "identifiers_shortened"]

    @admin.display(description=_("relief"), ordering="relief_start")
    def relief_shown(self, obj: Record) -> str:
        if not obj.relief:
            return ""
        if obj.relief_end is not None:
            return gettext("%(relief)s, %(start)s to %(end)s") % {
                "relief": obj.get_relief_display(),
                "start": obj.relief_start,
                "end": obj.relief_end,
            }
        return gettext("%(relief)s since %(start)s") % {"relief": obj.get_relief_display(), "start": obj.relief_start}

    @admin.display(description=_("identifiers (peppered tokens, shortened)"))
    def identifiers_shortened(self, obj: Record) -> str:
        # Composite-key rows have no admin of their own (Django 5.2): listed here instead.
        identifiers = RecordIdentifier.objects.filter(record_id=obj.pk).values_list("id_type", "token")
        return format_html_join(
            mark_safe("<br>"),
            "{}: {}",
            ((id_type_label(id_type), short_token(token)) for id_type, token in identifiers),
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        if request.method == "GET" and response.status_code == 200:
            record = Record.objects.filter(pk=object_id).only("pk", "member_id", "reference").first()
            if record is not None:
                audit_event_record(actor=Actor.operator(request.user), action="record.viewed", obj=record)
        return response


# What operators read for this package's audit action codes (stored in English: they are hashed into the
# audit chain).
@admin.register(SummaryCheck)
class SummaryCheckAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The summary checks: which slice, how many tokens, what drifted (nightly, or full on demand)."""

    list_display = ["started_at", "full", "slice", "slices", "checked", "missing", "stale", "orphaned"]
    list_filter = ["full"]


audit_labels_register(
    actions={
        "batch.accepted": _("Batch accepted"),
        "batch.matched": _("Batch matched"),
        "record.resolved": _("Record resolved"),
        "record.retracted": _("Record retracted"),
        "record.viewed": _("Record viewed by an operator"),
        "summaries.verified": _("Summaries verified"),
    },
    system_actors={
        "matching": _("matching jobs"),
        "nightly summary verification": _("nightly summary verification"),
    },
)
