"""Reads of disputes, scoped to the member that filed them."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from core.errors import NotFoundError
from sharing.disputes.models import Dispute


def dispute_list(*, member_id: int) -> QuerySet[Dispute]:
    """Disputes this member filed, newest first."""
    return Dispute.objects.filter(member_id=member_id)


def dispute_get(*, member_id: int, dispute_id: int) -> Dispute:
    """A dispute this member filed; anyone else's is the same 404 as a missing one."""
    dispute = Dispute.objects.filter(pk=dispute_id, member_id=member_id).first()
    if dispute is None:
        raise NotFoundError(_("No dispute with this id."))
    return dispute
