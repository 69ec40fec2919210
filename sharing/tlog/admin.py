"""The verifiable log for operators: its size, its checkpoints, and "verify log" (recompute it from the leaves)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from members.admin.common import ReadOnlyAdminMixin
from members.audit import Actor
from sharing.tlog.models import LogCheckpoint
from sharing.tlog.selectors import log_pending_count, log_size
from sharing.tlog.services import log_verify


@admin.register(LogCheckpoint)
class LogCheckpointAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["size", "root_hex", "created_at"]
    change_list_template = "admin/sharing/logcheckpoint/change_list.html"

    @admin.display(description=_("root hash"))
    def root_hex(self, obj: LogCheckpoint) -> str:
        return bytes(obj.root).hex()

    def has_verify_permission(self, request) -> bool:
        return request.user.has_perm("sharing.view_logcheckpoint")

    def get_urls(self):
        return [
            path("verify/", self.admin_site.admin_view(self.verify_view), name="sharing_logcheckpoint_verify"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "has_verify_permission": self.has_verify_permission(request),
            "log_size": log_size(),
            "log_pending": log_pending_count(),
            "latest": LogCheckpoint.objects.order_by("-size").first(),
        }
        return super().changelist_view(request, extra_context)

    def verify_view(self, request: HttpRequest):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_verify_permission(request):
            raise PermissionDenied
        result = log_verify(actor=Actor.operator(request.user))
        if result.ok:
            messages.success(request, gettext("The log verifies: %(size)d leaves.") % {"size": result.size})
        else:
            messages.error(
                request,
                gettext("The log does not verify: %(count)d problem(s).") % {"count": len(result.problems)},
            )
            for problem in result.problems[:20]:
                messages.error(request, problem)
        return HttpResponseRedirect(reverse("admin:sharing_logcheckpoint_changelist"))
