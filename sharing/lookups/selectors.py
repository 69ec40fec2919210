"""Reads of the lookup log, scoped to the member that looked up."""

from __future__ import annotations

from django.utils.translation import gettext as _

from core.errors import NotFoundError
from sharing.lookups.models import Lookup


def lookup_get(*, member_id: int, lookup_id: int) -> Lookup:
    """A past lookup of this member; anyone else's is the same 404 as a missing one."""
    lookup = Lookup.objects.filter(pk=lookup_id, member_id=member_id).first()
    if lookup is None:
        raise NotFoundError(_("No lookup with this id."))
    return lookup
