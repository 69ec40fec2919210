"""The histories' holds: what the platform found when a restored database did not continue a recorded head.

Read-only: a hold is opened by the history check and released only by ``manage.py history_reconcile``
(docs/operations.md, "Restoring"), which first makes the operator say which history is the true one.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from members.admin.common import ReadOnlyAdminMixin
from members.models import HistoryHold


class HoldStateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", _("open (signing and chaining stopped)")), ("released", _("released"))]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(released_at__isnull=True)
        if self.value() == "released":
            return queryset.filter(released_at__isnull=False)
        return queryset


@admin.register(HistoryHold)
class HistoryHoldAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """While a hold is open, its history does not grow; the list says since when and what was found."""

    list_display = ["kind", "detected_at", "is_open", "released_at", "released_by"]
    list_filter = [HoldStateFilter, "kind"]
    ordering = ["-detected_at"]

    @admin.display(boolean=True, description=_("open"))
    def is_open(self, obj: HistoryHold) -> bool:
        return obj.released_at is None
