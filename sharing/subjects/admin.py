"""Issued subject reports, for operators to read (the desk's 本人查询 page issues them: sharing.desk.subject_access)."""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.contrib import admin
from django.urls import path
from django.utils.translation import gettext_lazy as _

from members.audit import audit_labels_register
from sharing.subjects.models import SubjectReport


@admin.register(SubjectReport)
class SubjectReportAdmin(admin.ModelAdmin):
    list_display = ["number_shown", "issued_at", "issued_by", "document_type", "check_reference", "free"]
    list_filter = ["free", "document_type"]
    fields = ["issued_at", "issued_by", "document_type", "check_reference", "free", "extra_reason", "digest"]
    change_list_template = "admin/sharing/subjectreport/change_list.html"
    # The desk's page, mounted here by registration (sharing.desk.subject_access): (route, view, URL name).
    extra_views: list[tuple[str, Callable, str]] = []

    def get_urls(self):
        mounted = [
            path(route, self.admin_site.admin_view(functools.partial(view, self)), name=name)
            for route, view, name in self.extra_views
        ]
        return [*mounted, *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        extra = {"can_issue": request.user.has_perm("sharing.issue_subjectreport")}
        return super().changelist_view(request, {**extra, **(extra_context or {})})

    @admin.display(description=_("report number"), ordering="pk")
    def number_shown(self, obj: SubjectReport) -> str:
        return obj.number

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


audit_labels_register(
    actions={
        "subject.report_issued": _("A data subject's own report issued at the desk"),
    },
)
