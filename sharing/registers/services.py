"""The partner registry: members register the partners they work with, flag misconduct, relay answers.

Rules (docs/api.md, "Partners"):
- an entry is the member's own; re-sending it (PUT) replaces its fields and licences;
- an entry needs review when a licence or the agreement has lapsed or the due diligence is older than
  12 months; members are alerted 30 days before any of these dates (``partner_review_alerts``);
- a flag is about a USCC some member registered; the members with an active entry for it are alerted
  (never told who flagged) and may relay the partner's answer within 20 days; an operator accepts or
  rejects the flag with a note once the partner answered or the 20 days passed; accepted flags count
  in the profile for 24 months.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import msgspec
import orjson
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.clock import business_today
from core.errors import ConflictError, NotFoundError
from members.audit import Actor, audit_event_record
from members.models import Institution
from sharing.alerts.models import Alert
from sharing.alerts.services import alerts_create
from sharing.common.signing import sign
from sharing.registers.contracts import (
    PartnerExitRequest,
    PartnerFields,
    PartnerFlagRequest,
    PartnerRequest,
    PolicyCardRequest,
)
from sharing.registers.models import Partner, PartnerFlag, PartnerLicence, PolicyCard
from sharing.registers.review import review_dates, years_later
from sharing.registers.selectors import partner_profile
from sharing.tlog import leaf
from sharing.tlog.services import register_change_log

ANSWER_DAYS = 20
FLAG_COUNTS_YEARS = 2
ALERT_DAYS_BEFORE = 30


def _fields(body: PartnerFields) -> dict:
    return {
        "name": body.name.strip(),
        "roles": list(body.roles),
        "due_diligence_on": body.due_diligence_on,
        "agreement_expires_on": body.agreement_expires_on,
        "public_list_url": "" if body.public_list_url is msgspec.UNSET else body.public_list_url,
    }


def _licences_replace(partner: Partner, body: PartnerFields) -> None:
    PartnerLicence.objects.filter(partner=partner).delete()
    PartnerLicence.objects.bulk_create(
        PartnerLicence(
            partner=partner,
            type=licence.type,
            number=licence.number.strip(),
            issuer=licence.issuer.strip(),
            valid_to=licence.valid_to,
        )
        for licence in body.licences
    )


def _audit_payload(partner: Partner, body: PartnerFields) -> dict:
    return {
        "uscc": partner.uscc,
        "roles": partner.roles,
        "licences": len(body.licences),
        "due_diligence_on": partner.due_diligence_on.isoformat(),
        "agreement_expires_on": partner.agreement_expires_on.isoformat(),
    }


def _partner_logged(partner: Partner, kind: str, change: dict) -> None:
    register_change_log(
        kind=kind,
        member_id=partner.member_id,
        reference=f"partner:{partner.uscc}",
        salt=bytes(partner.log_salt),
        change={"uscc": partner.uscc, **change},
    )


def _flag_logged(flag: PartnerFlag, kind: str, member_id: int | None, change: dict) -> None:
    register_change_log(
        kind=kind,
        member_id=member_id,
        reference=f"flag:{flag.pk}",
        salt=bytes(flag.log_salt),
        change={"uscc": flag.uscc, **change},
    )


def partner_register(*, actor: Actor, member_id: int, body: PartnerRequest) -> Partner:
    """A new entry; an entry the member ended earlier is taken up again. An active one is a conflict."""
    now = timezone.now()
    with transaction.atomic():
        existing = Partner.objects.select_for_update().filter(member_id=member_id, uscc=body.uscc).first()
        if existing is not None and existing.exited_on is None:
            raise ConflictError(
                _("You already registered this partner; send PUT to change the entry."), code="partner_exists"
            )
        if existing is None:
            try:
                with transaction.atomic():
                    partner = Partner.objects.create(
                        member_id=member_id, uscc=body.uscc, created_at=now, **_fields(body)
                    )
            except IntegrityError:  # the same USCC registered by a concurrent request of this member
                raise ConflictError(
                    _("You already registered this partner; send PUT to change the entry."), code="partner_exists"
                ) from None
        else:
            partner = existing
            for name, value in _fields(body).items():
                setattr(partner, name, value)
            partner.exited_on, partner.exit_reason, partner.updated_at = None, "", now
            partner.save()
        _licences_replace(partner, body)
        _partner_logged(partner, leaf.PARTNER_ADDED, msgspec.to_builtins(body))
        audit_event_record(actor=actor, action="partner.registered", obj=partner, payload=_audit_payload(partner, body))
    return partner


def partner_update(*, actor: Actor, partner: Partner, body: PartnerFields) -> Partner:
    with transaction.atomic():
        partner = Partner.objects.select_for_update().get(pk=partner.pk)
        if partner.exited_on is not None:
            raise ConflictError(
                _("This partnership ended; register the partner again with POST."), code="partner_exited"
            )
        for name, value in _fields(body).items():
            setattr(partner, name, value)
        partner.updated_at = timezone.now()
        partner.save()
        _licences_replace(partner, body)
        _partner_logged(partner, leaf.PARTNER_UPDATED, msgspec.to_builtins(body))
        audit_event_record(actor=actor, action="partner.updated", obj=partner, payload=_audit_payload(partner, body))
    return partner


def partner_exit(*, actor: Actor, partner: Partner, body: PartnerExitRequest) -> Partner:
    with transaction.atomic():
        partner = Partner.objects.select_for_update().get(pk=partner.pk)
        if partner.exited_on is not None:
            raise ConflictError(_("This partnership already ended."), code="partner_exited")
        partner.exited_on, partner.exit_reason, partner.updated_at = body.date, body.reason.strip(), timezone.now()
        partner.save(update_fields=["exited_on", "exit_reason", "updated_at"])
        _partner_logged(partner, leaf.PARTNER_EXITED, msgspec.to_builtins(body))
        audit_event_record(
            actor=actor,
            action="partner.exited",
            obj=partner,
            payload={"uscc": partner.uscc, "date": body.date.isoformat(), "reason": partner.exit_reason},
        )
    return partner


# --- review ------------------------------------------------------------------------------------


def partner_review_alerts(*, today: dt.date | None = None) -> int:
    """Alert members 30 days before a partner's licence, agreement or due diligence falls due (daily job).

    One alert per entry, date and what falls due: a re-run on the same day finds the alert it wrote.
    """
    today = today or business_today()
    horizon = today + dt.timedelta(days=ALERT_DAYS_BEFORE)
    rows = []
    partners = Partner.objects.filter(exited_on__isnull=True).prefetch_related("licences")
    with transaction.atomic():
        for partner in partners:
            for what, date in review_dates(partner):
                if not today <= date <= horizon:
                    continue
                payload = {"uscc": partner.uscc, "name": partner.name, "what": what, "due": date.isoformat()}
                if Alert.objects.filter(
                    member_id=partner.member_id, kind=Alert.Kind.PARTNER_REVIEW_DUE, payload__contains=payload
                ).exists():
                    continue
                rows.append((partner.member_id, Alert.Kind.PARTNER_REVIEW_DUE, payload))
        created = alerts_create(rows)
        if created:
            audit_event_record(
                actor=Actor.system("partner review"), action="partners.review_alerted", payload={"alerts": created}
            )
    return created


# --- flags -------------------------------------------------------------------------------------


def flag_file(*, actor: Actor, member_id: int, uscc: str, body: PartnerFlagRequest) -> PartnerFlag:
    """File a flag on a partner some member registered; its active registrants are alerted."""
    now = timezone.now()
    today = business_today()
    with transaction.atomic():
        registrants = set(Partner.objects.filter(uscc=uscc, exited_on__isnull=True).values_list("member_id", flat=True))
        if not registrants and not Partner.objects.filter(uscc=uscc).exists():
            raise NotFoundError(_("No member registered a partner with this USCC."))
        flag = PartnerFlag.objects.create(
            uscc=uscc,
            member_id=member_id,
            category=body.category,
            description=body.description.strip(),
            evidence_sha256=body.evidence_sha256,
            created_at=now,
            answer_due=today + dt.timedelta(days=ANSWER_DAYS),
        )
        _flag_logged(flag, leaf.FLAG_FILED, member_id, msgspec.to_builtins(body))
        alert = {
            "flag": flag.pk,
            "uscc": uscc,
            "category": flag.category,
            "description": flag.description,
            "answer_due": flag.answer_due.isoformat(),
        }
        alerts_create((registrant, Alert.Kind.PARTNER_FLAGGED, alert) for registrant in registrants - {member_id})
        audit_event_record(
            actor=actor,
            action="partner_flag.filed",
            obj=flag,
            payload={"uscc": uscc, "category": flag.category, "evidence_sha256": flag.evidence_sha256},
        )
    return flag


def flag_for_answer(*, member_id: int, flag_id: int) -> PartnerFlag:
    """A flag the member may relay an answer to: on a partner it registers, filed by someone else."""
    flag = (
        PartnerFlag.objects.filter(pk=flag_id)
        .exclude(member_id=member_id)
        .filter(uscc__in=Partner.objects.filter(member_id=member_id, exited_on__isnull=True).values("uscc"))
        .first()
    )
    if flag is None:
        raise NotFoundError(_("No flag with this id is open to your answer."))
    return flag


def flag_answer(*, actor: Actor, member_id: int, flag_id: int, answer: str) -> PartnerFlag:
    flag = flag_for_answer(member_id=member_id, flag_id=flag_id)
    with transaction.atomic():
        flag = PartnerFlag.objects.select_for_update().get(pk=flag.pk)
        if not flag.answer_window_open(business_today()):
            raise ConflictError(
                _("This flag can no longer be answered: it was answered, reviewed or its 20 days passed."),
                code="answer_closed",
            )
        flag.answer, flag.answered_at, flag.answered_by_id = answer.strip(), timezone.now(), member_id
        flag.save(update_fields=["answer", "answered_at", "answered_by"])
        _flag_logged(flag, leaf.FLAG_ANSWERED, member_id, {"answer": flag.answer})
        audit_event_record(actor=actor, action="partner_flag.answered", obj=flag, payload={"uscc": flag.uscc})
    return flag


def flag_review(*, actor: Actor, flag: PartnerFlag, accept: bool, note: str) -> PartnerFlag:
    """An operator's decision, once the partner answered or its 20 days passed."""
    note = note.strip()
    if not note:
        raise ConflictError(_("Give a note for the decision."), code="note_required")
    today = business_today()
    with transaction.atomic():
        flag = PartnerFlag.objects.select_for_update().get(pk=flag.pk)
        if flag.status != PartnerFlag.Status.PENDING:
            raise ConflictError(_("This flag was already reviewed."), code="already_reviewed")
        if not flag.answer and today <= flag.answer_due:
            raise ConflictError(
                _("The partner may still answer until %(date)s; decide after that or once it answered.")
                % {"date": flag.answer_due.isoformat()},
                code="answer_pending",
            )
        flag.status = PartnerFlag.Status.ACCEPTED if accept else PartnerFlag.Status.REJECTED
        flag.reviewed_at, flag.reviewed_by, flag.review_note = timezone.now(), actor.label, note
        flag.expires_on = years_later(today, FLAG_COUNTS_YEARS) if accept else None
        flag.save(update_fields=["status", "reviewed_at", "reviewed_by", "review_note", "expires_on"])
        _flag_logged(flag, leaf.FLAG_REVIEWED, None, {"status": flag.status, "note": note})
        audit_event_record(
            actor=actor,
            action="partner_flag.reviewed",
            obj=flag,
            payload={"uscc": flag.uscc, "status": flag.status, "note": note},
        )
    return flag


def partner_profile_view(*, actor: Actor, uscc: str) -> dict:
    """A partner's profile for a member, the read audited like other reads."""
    profile = partner_profile(uscc=uscc, today=business_today())
    audit_event_record(actor=actor, action="partner.profile_viewed", payload={"uscc": uscc})
    return profile


# Risk-policy disclosure cards: each member publishes versions of its card; each is immutable and signed.
#
# The platform signs the canonical JSON of every version with its Ed25519 key (the key that signs the
# self-inspection reports, ``GET /api/v1/reports/public-key``), so that anyone holding a card can check
# it is the one the member published through the platform.
DOCUMENT_TYPE = "riskshare.policy_card.v1"


def card_document(*, member: Institution, version: int, body: PolicyCardRequest, published_at: dt.datetime) -> bytes:
    """The bytes the platform signs: sorted keys, no spaces, amounts as the member wrote them; ``relief_policy``
    only when the card states one (cards without it sign the same fields as before it existed)."""
    relief = body.relief_policy
    stated = (
        {}
        if relief is msgspec.UNSET
        else {
            "relief_policy": {
                "kinds": list(relief.kinds),
                "offered_to": relief.offered_to.strip(),
                "how_to_ask": relief.how_to_ask.strip(),
            }
        }
    )
    return orjson.dumps(
        {
            **stated,
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


def relief_columns(body: PolicyCardRequest) -> dict:
    relief = body.relief_policy
    if relief is msgspec.UNSET:
        return {}
    return {
        "relief_kinds": list(relief.kinds),
        "relief_eligibility": relief.offered_to.strip(),
        "relief_how_to_ask": relief.how_to_ask.strip(),
    }


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
            **relief_columns(body),
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
