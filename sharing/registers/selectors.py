"""Reads of the partner registry (a member's own entries and flags, any partner's profile) and the
risk-policy cards.

The profile counts and never names a member: how many members register the partner and in which
roles, its accepted flags by category (only once flags of at least two distinct members count, so
that no single member's flag can be read off it), and the licences members recorded.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal

from django.db import connection
from django.db.models import Count, QuerySet
from django.utils.translation import gettext as _

from core.errors import NotFoundError
from members.models import Institution
from sharing.registers.models import Partner, PartnerFlag, PartnerLicence, PartnerRole, PolicyCard
from sharing.registers.review import needs_review as entry_needs_review

FLAGS_SHOWN_FROM_MEMBERS = 2


def partner_list(*, member_id: int, needs_review: bool | None = None, today: dt.date) -> list[Partner]:
    partners = list(Partner.objects.filter(member_id=member_id).prefetch_related("licences").order_by("uscc"))
    if needs_review is not None:
        partners = [p for p in partners if entry_needs_review(p, today=today) is needs_review]
    return partners


def origination_partners(*, member_id: int) -> frozenset[str]:
    """The USCCs the member's records may name as ``origination_partner``: its active origination platforms."""
    return frozenset(
        Partner.objects.filter(
            member_id=member_id, exited_on__isnull=True, roles__contains=[PartnerRole.ORIGINATION_PLATFORM]
        ).values_list("uscc", flat=True)
    )


def partner_get(*, member_id: int, uscc: str) -> Partner:
    partner = Partner.objects.filter(member_id=member_id, uscc=uscc).prefetch_related("licences").first()
    if partner is None:
        raise NotFoundError(_("You have not registered a partner with this USCC."))
    return partner


def flag_list(*, member_id: int, uscc: str) -> QuerySet[PartnerFlag]:
    """The flags this member filed on the partner, newest first."""
    return PartnerFlag.objects.filter(member_id=member_id, uscc=uscc).order_by("-id")


def partner_profile(*, uscc: str, today: dt.date) -> dict:
    """What any member may know of a partner; 404 when no member ever registered it."""
    entries = list(Partner.objects.filter(uscc=uscc).values("id", "member_id", "roles", "exited_on"))
    if not entries:
        raise NotFoundError(_("No member registered a partner with this USCC."))
    active = [entry for entry in entries if entry["exited_on"] is None]
    roles = Counter(role for entry in active for role in entry["roles"])
    accepted = PartnerFlag.objects.filter(uscc=uscc, status=PartnerFlag.Status.ACCEPTED, expires_on__gte=today)
    flagging_members = accepted.values("member_id").distinct().count()
    flags = None
    if flagging_members >= FLAGS_SHOWN_FROM_MEMBERS:
        flags = {
            row["category"]: row["n"]
            for row in accepted.values("category").annotate(n=Count("id")).order_by("category")
        }
    # Each licence once (type and number), with the latest validity any active entry recorded.
    licences: dict[tuple[str, str], dict] = {}
    for licence in PartnerLicence.objects.filter(partner_id__in=[entry["id"] for entry in active]).order_by("valid_to"):
        licences[(licence.type, licence.number)] = {
            "type": licence.type,
            "number": licence.number,
            "issuer": licence.issuer,
            "valid_to": licence.valid_to,
            "valid": licence.valid_to >= today,
        }
    return {
        "uscc": uscc,
        "originated": originated(uscc),
        "members": len(active),
        "roles": dict(sorted(roles.items())),
        "flags": flags,
        "licences": sorted(licences.values(), key=lambda item: (item["type"], item["number"])),
    }


# Per partner named as origination platform: its loans, the adverse records of that channel (blacklist, or
# delinquency of 90 days or written off), and how many members' records name it.
_ORIGINATED_SQL = """
    WITH per AS (
        SELECT origination_partner AS uscc,
               count(*) FILTER (WHERE kind = 'loan') AS loans,
               count(*) FILTER (WHERE kind = 'blacklist' OR (kind = 'delinquency'
                                AND (category = 'written_off' OR overdue_days >= 90))) AS adverse,
               count(DISTINCT member_id) AS members
        FROM sharing_record
        WHERE origination_partner <> '' AND status <> 'retracted'
        GROUP BY origination_partner
    )
    SELECT (SELECT loans FROM per WHERE uscc = %(uscc)s),
           (SELECT adverse FROM per WHERE uscc = %(uscc)s),
           (SELECT members FROM per WHERE uscc = %(uscc)s),
           percentile_cont(0.5) WITHIN GROUP (ORDER BY least(adverse::numeric / loans, 1))
               FILTER (WHERE loans > 0 AND members >= %(k)s)
    FROM per
"""


def _share(value) -> str | None:
    return None if value is None else str(Decimal(value).quantize(Decimal("0.0001")))


def originated(uscc: str) -> dict | None:
    """The channel's record: of the loans that name the partner as origination platform, the share that
    became blacklist or 90-day-delinquent records, beside the median of every channel. ``None`` until
    records of two distinct members name it (one member's volume is not shown)."""
    with connection.cursor() as cursor:
        cursor.execute(_ORIGINATED_SQL, {"uscc": uscc, "k": FLAGS_SHOWN_FROM_MEMBERS})
        loans, adverse, members, median = cursor.fetchone()
    if not members or members < FLAGS_SHOWN_FROM_MEMBERS:
        return None
    share = min(Decimal(adverse) / loans, Decimal(1)) if loans else None
    return {"loans": loans, "adverse": adverse, "adverse_share": _share(share), "consortium_median": _share(median)}


def policies_current(*, today: dt.date) -> list[PolicyCard]:
    """Every active member's card in effect today (its latest version effective by today), by member name."""
    cards = (
        PolicyCard.objects.filter(member__status=Institution.Status.ACTIVE, effective_from__lte=today)
        .order_by("member_id", "-version")
        .distinct("member_id")
        .select_related("member")
    )
    return sorted(cards, key=lambda card: (card.member.name, card.member.uscc))


def policy_versions(*, uscc: str) -> QuerySet[PolicyCard]:
    """A member's card history, newest first; 404 when it published none."""
    cards = PolicyCard.objects.filter(member__uscc=uscc).select_related("member").order_by("-version")
    if not cards.exists():
        raise NotFoundError(_("No member with this USCC published a risk-policy card."))
    return cards
