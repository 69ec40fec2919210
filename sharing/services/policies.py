"""Risk-policy disclosure cards: each member publishes versions of its card; each is immutable and signed.

The platform signs the canonical JSON of every version with its Ed25519 key (the key that signs the
self-inspection reports, ``GET /api/v1/reports/public-key``), so that anyone holding a card can check
it is the one the member published through the platform.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import msgspec
import orjson
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import ConflictError
from members.audit import Actor, audit_event_record
from members.models import Institution
from sharing.contracts.policies import PolicyCardRequest
from sharing.models import PolicyCard
from sharing.reports.signing import sign
from sharing.tlog import leaf
from sharing.tlog.services import register_change_log

DOCUMENT_TYPE = "riskshare.policy_card.v1"


def card_document(*, member: Institution, version: int, body: PolicyCardRequest, published_at: dt.datetime) -> bytes:
    """The bytes the platform signs: sorted keys, no spaces, amounts as the member wrote them."""
    return orjson.dumps(
        {
            "type": DOCUMENT_TYPE,
            "member": {"uscc": member.uscc, "name": member.name},
            "version": version,
            "max_credit_line": body.max_credit_line,
            "max_annual_rate": body.max_annual_rate,
            "multi_lending_decline": {"lenders": body.multi_lending_decline.lenders},
            "post_loan_monitoring": {
                "watch_all_loans": body.post_loan_monitoring.watch_all_loans,
                "review_days": body.post_loan_monitoring.review_days,
            },
            "collection_policy": body.collection_policy.strip(),
            "partner_list_url": "" if body.partner_list_url is msgspec.UNSET else body.partner_list_url,
            "effective_from": body.effective_from.isoformat(),
            "published_at": published_at.isoformat().replace("+00:00", "Z"),
        },
        option=orjson.OPT_SORT_KEYS,
    )


def policy_publish(*, actor: Actor, member: Institution, body: PolicyCardRequest) -> PolicyCard:
    """A new version, numbered after the member's latest; it may not take effect before that one."""
    published_at = timezone.now().replace(microsecond=0)
    with transaction.atomic():
        # One publisher at a time per member: the versions stay contiguous.
        Institution.objects.select_for_update().filter(pk=member.pk).first()
        latest = PolicyCard.objects.filter(member=member).order_by("-version").first()
        if latest is not None and body.effective_from < latest.effective_from:
            raise ConflictError(
                _("Version %(version)d takes effect on %(date)s; a new version may not take effect before it.")
                % {"version": latest.version, "date": latest.effective_from.isoformat()},
                code="effective_before_current",
            )
        version = latest.version + 1 if latest else 1
        document = card_document(member=member, version=version, body=body, published_at=published_at)
        card = PolicyCard.objects.create(
            member=member,
            version=version,
            max_credit_line=Decimal(body.max_credit_line),
            max_annual_rate=Decimal(body.max_annual_rate),
            decline_at_lenders=body.multi_lending_decline.lenders,
            watch_all_loans=body.post_loan_monitoring.watch_all_loans,
            review_days=body.post_loan_monitoring.review_days,
            collection_policy=body.collection_policy.strip(),
            partner_list_url="" if body.partner_list_url is msgspec.UNSET else body.partner_list_url,
            effective_from=body.effective_from,
            published_at=published_at,
            document=document,
            signature=sign(document),
        )
        register_change_log(
            kind=leaf.POLICY_PUBLISHED,
            member_id=member.pk,
            reference=f"policy:{version}",
            salt=bytes(card.log_salt),
            change=orjson.loads(document),
        )
        audit_event_record(
            actor=actor,
            action="policy_card.published",
            obj=card,
            payload={"version": version, "effective_from": body.effective_from.isoformat()},
        )
    return card
