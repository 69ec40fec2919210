"""Reads of reports, scoped to the member they are about."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from core.errors import NotFoundError
from sharing.reports.models import Report


def report_list(*, member_id: int) -> QuerySet[Report]:
    """A member's generated reports, newest first, without their files."""
    return Report.objects.filter(member_id=member_id, status=Report.Status.READY).defer("content", "summary")


def report_get(*, member_id: int, report_id: int) -> Report:
    """A generated report of this member; anyone else's is the same 404 as a missing one."""
    report = report_list(member_id=member_id).filter(pk=report_id).first()
    if report is None:
        raise NotFoundError(_("No report with this id."))
    return report
