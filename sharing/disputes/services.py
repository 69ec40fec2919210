"""Disputes: a subject's objection marks records at once; operators settle it within the statutory period.

A record under dispute has status ``disputed``; lookups show ``"disputed": true``
for every token of it from the moment the dispute is accepted (the summaries are
recomputed in the same transaction). Settling lifts the mark (``corrected``,
``confirmed``) or leaves it on until the record ends (``unverifiable``). A
correction is pushed to every member whose recent lookups relied on the record.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core.clock import business_date, business_midnight, business_today
from core.errors import ConflictError, DomainError, LimitReached, NotFoundError
from core.sql import execute_binary
from members.audit import Actor, audit_event_record
from members.models import Credential, Institution
from sharing.alerts.services import alerts_create
from sharing.disputes.models import Dispute, DisputedRecord, DisputeToken
from sharing.disputes.signals import dispute_changed
from sharing.lookups.models import Lookup
from sharing.lookups.services import answer_unpack
from sharing.records.matching import summaries_refresh
from sharing.records.models import Record, RecordIdentifier, RecordStatus
from sharing.tlog import leaf
from sharing.tlog.services import Change, log_append, record_change_log
from sharing.tokens.pepper import pepper_token
from sharing.tokens.sealing import identifiers_seal
from sharing.tokens.selectors import key_version_require_current

STANDING = (RecordStatus.ACTIVE, RecordStatus.DISPUTED)


@dataclass(frozen=True)
class DisputeIdentifier:
    type: str
    token: str


def _tokens_of(record_ids: list[int]) -> list[bytes]:
    return [
        bytes(token)
        for token in RecordIdentifier.objects.filter(record_id__in=record_ids)
        .values_list("token", flat=True)
        .distinct()
    ]


def dispute_file(
    *,
    credential: Credential | None,
    identifiers: list[DisputeIdentifier],
    key_version: int,
    reason: str,
    statement: str = "",
    record_id: int | None = None,
    desk_operator: Actor | None = None,
) -> Dispute:
    """File a subject's objection: every standing record with one of these tokens (or the one named) is marked.

    The reporting members are alerted; the answer names none of them to the filer. Without a credential the
    platform files it at the desk (``desk_operator``, the person present with their own report): same clock,
    same alerts, no member's daily limit.
    """
    if (credential is None) == (desk_operator is None):
        raise ValueError("a dispute is filed by a member's credential or by an operator at the desk")
    key_version_require_current(version=key_version)
    reason, statement = reason.strip(), statement.strip()
    if not reason:
        raise DomainError(_("Give the subject's reason for the dispute."), code="required", field="/reason")
    peppered = {identifier.type: pepper_token(identifier.token) for identifier in identifiers}
    now = timezone.now()
    with transaction.atomic():
        if credential is not None:
            _daily_limit_check(member_id=credential.institution_id, now=now)
        candidates = Record.objects.filter(
            status__in=STANDING,
            resolved_date__isnull=True,
            pk__in=RecordIdentifier.objects.filter(token__in=list(peppered.values())).values("record_id"),
        )
        if record_id is not None:
            candidates = candidates.filter(pk=record_id)
        # Locked in (member, reference) order, the order in which a batch's upsert takes a member's
        # records (their ids may be in another order), so a filing and a batch never deadlock.
        records = list(
            candidates.select_for_update()
            .order_by("member_id", "reference")
            .only("pk", "member_id", "reference", "status", "log_salt")
        )
        if not records:
            if record_id is not None:
                raise NotFoundError(_("No standing record with this id carries these identifiers."))
            raise DomainError(
                _("No standing record carries these identifiers; there is nothing to dispute."),
                code="nothing_to_dispute",
                field="/identifiers",
            )
        dispute = Dispute.objects.create(
            member_id=credential.institution_id if credential else None,
            credential=credential,
            filed_by=desk_operator.label if desk_operator else "",
            record_id=record_id,
            reason=reason,
            statement=statement,
            received_at=now,
            due_date=business_date(now) + dt.timedelta(days=settings.RISKSHARE_DISPUTE_DAYS),
            records_disputed=len(records),
        )
        DisputeToken.objects.bulk_create(
            DisputeToken(dispute=dispute, id_type=id_type, token=token, statement=bool(statement))
            for id_type, token in peppered.items()
        )
        DisputedRecord.objects.bulk_create(
            DisputedRecord(dispute=dispute, record_id=record.pk, reporting_member_id=record.member_id)
            for record in records
        )
        record_ids = [record.pk for record in records]
        Record.objects.filter(pk__in=record_ids, status=RecordStatus.ACTIVE).update(
            status=RecordStatus.DISPUTED, updated_at=now
        )
        _dispute_log(records, kind=leaf.DISPUTED, now=now, event="dispute_opened", dispute=dispute.pk)
        summaries_refresh(sorted(set(_tokens_of(record_ids)) | set(peppered.values())))
        dispute_changed.send(sender=None, dispute_id=dispute.pk, type="dispute.opened", outcome=None)
        by_member: dict[int, list[Record]] = defaultdict(list)
        for record in records:
            by_member[record.member_id].append(record)
        alerts_create(
            [
                (
                    member_id,
                    "dispute_filed",
                    {
                        "dispute_id": dispute.pk,
                        "due_date": dispute.due_date.isoformat(),
                        "reason": reason,
                        "statement": bool(statement),
                        "records": [{"id": r.pk, "reference": r.reference} for r in member_records],
                    },
                )
                for member_id, member_records in sorted(by_member.items())
            ]
        )
        audit_event_record(
            actor=Actor.credential(credential) if credential else desk_operator,
            action="dispute.filed",
            obj=dispute,
            payload={
                "records": len(records),
                "reporting_members": len(by_member),
                "named_record": record_id,
                "statement": bool(statement),
                "due_date": dispute.due_date,
            },
        )
    return dispute


def _dispute_log(records: list[Record], *, kind: str, now: dt.datetime, **event) -> None:
    """A leaf per record a dispute marks or settles: a platform change, naming no member (sharing.tlog.leaf)."""
    log_append(
        [
            Change(
                kind=kind,
                member_id=None,
                record_id=record.pk,
                reference=record.reference,
                salt=bytes(record.log_salt),
                change=leaf.state_change(record.reference, **event),
            )
            for record in records
        ],
        now=now,
    )


def _daily_limit_check(*, member_id: int, now: dt.datetime) -> None:
    """A dispute hides nothing but changes what every member sees: a member files at most so many a day.

    The member's row is locked so that concurrent filings count one after another.
    """
    Institution.objects.select_for_update().filter(pk=member_id).values_list("pk", flat=True).first()
    midnight = business_midnight(now)
    filed = Dispute.objects.filter(member_id=member_id, received_at__gte=midnight).count()
    limit = settings.RISKSHARE_DISPUTES_PER_DAY
    if filed >= limit:
        wait = math.ceil((midnight + dt.timedelta(days=1) - now).total_seconds())
        raise LimitReached(
            _("Dispute limit reached: %(limit)d disputes a day; call the platform operator.") % {"limit": limit},
            retry_after=max(1, wait),
        )


def dispute_settle(*, actor: Actor, dispute: Dispute, outcome: str, note: str, retract_reason: str = "") -> Dispute:
    """Settle an open dispute.

    ``corrected``: the record was corrected by its member, or (with ``retract_reason``) the operator
    retracts what still stands; the mark is lifted and recent inquirers are alerted.
    ``confirmed``: the record stands; the mark is lifted. ``unverifiable``: record and mark both stay
    until the record ends. The filing member is alerted of the outcome.
    """
    note = (note or "").strip()
    if outcome not in (Dispute.Status.CORRECTED, Dispute.Status.CONFIRMED, Dispute.Status.UNVERIFIABLE):
        raise DomainError(_("Unknown outcome %(outcome)s.") % {"outcome": outcome}, code="invalid", field="/outcome")
    if not note:
        raise DomainError(_("Explain the decision in a note."), code="required", field="/note")
    if retract_reason.strip() and outcome != Dispute.Status.CORRECTED:
        raise DomainError(
            _("Records are retracted only with the outcome 'corrected'."), code="invalid", field="/retract_reason"
        )
    now = timezone.now()
    with transaction.atomic():
        locked = Dispute.objects.select_for_update().get(pk=dispute.pk)
        if locked.status != Dispute.Status.OPEN:
            raise ConflictError(_("This dispute is already settled."), code="dispute_settled")
        record_ids = list(DisputedRecord.objects.filter(dispute=locked).values_list("record_id", flat=True))
        # In (member, reference) order, as a batch's upsert takes them (see dispute_file).
        records = list(Record.objects.select_for_update().filter(pk__in=record_ids).order_by("member_id", "reference"))
        retracted = []
        if retract_reason.strip():
            for record in records:
                if record.status in STANDING:
                    record.status = RecordStatus.RETRACTED
                    record.retract_reason = retract_reason.strip()[:2000]
                    record.retracted_at = record.updated_at = now
                    record.save(update_fields=["status", "retract_reason", "retracted_at", "updated_at"])
                    record_change_log(
                        record, kind=leaf.RETRACTED, member_id=None, now=now,
                        status=record.status, reason=record.retract_reason,
                    )  # fmt: skip
                    audit_event_record(
                        actor=actor,
                        action="record.retracted",
                        obj=record,
                        payload={"reason": record.retract_reason, "dispute": locked.pk},
                    )
                    retracted.append(record.pk)
        lifted = 0
        if outcome != Dispute.Status.UNVERIFIABLE:
            lifted = _marks_lift(record_ids=record_ids, dispute_id=locked.pk, now=now)
        locked.status = outcome
        locked.settled_at = now
        locked.settled_by = actor.label
        locked.settlement_note = note[:4000]
        locked.save(update_fields=["status", "settled_at", "settled_by", "settlement_note"])
        _dispute_log(
            records, kind=leaf.DISPUTE_SETTLED, now=now, event="dispute_settled", dispute=locked.pk, outcome=outcome
        )
        summaries_refresh(_tokens_of(record_ids))
        dispute_changed.send(sender=None, dispute_id=locked.pk, type="dispute.settled", outcome=outcome)
        alerts_create(
            [
                (
                    locked.member_id,
                    "dispute_resolved",
                    {"dispute_id": locked.pk, "outcome": outcome, "settled_at": now.isoformat()},
                )
            ]
        )
        inquirer_alerts = 0
        if outcome == Dispute.Status.CORRECTED:
            inquirer_alerts = record_corrected_alerts(records=records, now=now)
        audit_event_record(
            actor=actor,
            action="dispute.settled",
            obj=locked,
            payload={
                "outcome": outcome,
                "records": len(record_ids),
                "retracted": len(retracted),
                "marks_lifted": lifted,
                "inquirer_alerts": inquirer_alerts,
                "days": (business_date(now) - business_date(locked.received_at)).days,
            },
        )
    return locked


def _marks_lift(*, record_ids: list[int], dispute_id: int, now: dt.datetime) -> int:
    """Lift the disputed mark from records no other open or unverifiable dispute still holds."""
    still_held = DisputedRecord.objects.filter(
        dispute__status__in=[Dispute.Status.OPEN, Dispute.Status.UNVERIFIABLE]
    ).exclude(dispute_id=dispute_id)
    marked = Record.objects.filter(pk__in=record_ids, status=RecordStatus.DISPUTED).exclude(
        pk__in=still_held.values("record_id")
    )
    ended = marked.filter(resolved_date__isnull=False).update(status=RecordStatus.RESOLVED, updated_at=now)
    standing = marked.filter(resolved_date__isnull=True).update(status=RecordStatus.ACTIVE, updated_at=now)
    return ended + standing


def due_soon_days() -> int:
    """How many days before its due date a dispute counts as due soon (day 15 of 20)."""
    return settings.RISKSHARE_DISPUTE_DAYS - settings.RISKSHARE_DISPUTE_DUE_SOON_DAY


@dataclass(frozen=True)
class DeadlineNotices:
    due_soon: list[int]
    overdue: list[int]


def disputes_deadlines_check(*, today: dt.date | None = None) -> DeadlineNotices:
    """Raise (once each) the "due soon" notice from day 15 and the "overdue" notice after day 20.

    Each notice is an audit event and an e-mail to the operators who settle disputes.
    Day 0 is the day of receipt (Asia/Shanghai); the due date is day 20.
    """
    today = today or business_today()
    warn_days = due_soon_days()
    now = timezone.now()
    notices = {}
    kinds = [
        ("overdue", "overdue_raised_at", Q(due_date__lt=today)),
        ("due_soon", "due_soon_raised_at", Q(due_date__gte=today, due_date__lte=today + dt.timedelta(days=warn_days))),
    ]
    with transaction.atomic():
        for kind, stamp, condition in kinds:
            pending = list(
                Dispute.objects.select_for_update(skip_locked=True)
                .filter(condition, status=Dispute.Status.OPEN, **{f"{stamp}__isnull": True})
                .order_by("due_date", "pk")
            )
            for dispute in pending:
                audit_event_record(
                    actor=Actor.system("disputes"),
                    action=f"dispute.{kind}",
                    obj=dispute,
                    payload={"due_date": dispute.due_date, "days_left": (dispute.due_date - today).days},
                )
            Dispute.objects.filter(pk__in=[d.pk for d in pending]).update(**{stamp: now})
            if kind == "overdue":
                # An overdue dispute needs no "due soon" notice any more.
                Dispute.objects.filter(pk__in=[d.pk for d in pending], due_soon_raised_at__isnull=True).update(
                    due_soon_raised_at=now
                )
            notices[kind] = pending
        transaction.on_commit(lambda: _operators_notify(notices["due_soon"], notices["overdue"], today))
    return DeadlineNotices(due_soon=[d.pk for d in notices["due_soon"]], overdue=[d.pk for d in notices["overdue"]])


def _operators_notify(due_soon: list[Dispute], overdue: list[Dispute], today: dt.date) -> None:
    if not (due_soon or overdue):
        return
    users = get_user_model().objects.filter(is_active=True, is_staff=True).exclude(email="")
    recipients = sorted({user.email for user in users if user.is_superuser or user.has_perm("sharing.settle_dispute")})
    if not recipients:
        return
    lines = [_("Disputes needing a decision on %(day)s:") % {"day": today.isoformat()}, ""]
    lines += [_("OVERDUE: dispute %(id)s, due %(due)s") % {"id": d.pk, "due": d.due_date.isoformat()} for d in overdue]
    lines += [
        _("Due soon: dispute %(id)s, due %(due)s") % {"id": d.pk, "due": d.due_date.isoformat()} for d in due_soon
    ]
    subject = _("riskshare: %(overdue)d overdue, %(soon)d due-soon disputes") % {
        "overdue": len(overdue),
        "soon": len(due_soon),
    }
    send_mail(subject, "\n".join(lines), None, recipients)


# Every lookup that found one of the corrected records' tokens (a hit: a miss relied on no record) in
# the look-back window, by another member than the record's own, grouped per lookup: which positions
# of that lookup relied on the record.
_RELIED_SQL = """
    WITH corrected AS MATERIALIZED (
        -- Read alone: on a Citus cluster the records stay on the coordinator and the lookup log is sharded by
        -- token, and Citus joins no local table with a sharded one (docs/design.md, "Distribution").
        SELECT DISTINCT ri.token, r.member_id AS owner
        FROM unnest(%s::bigint[]) AS c(record_id)
        JOIN sharing_recordidentifier ri ON ri.record_id = c.record_id
        JOIN sharing_record r ON r.id = c.record_id
    )
    SELECT e.member_id, e.lookup_id, min(e.created_at), array_agg(DISTINCT e.position ORDER BY e.position)
    FROM corrected
    JOIN sharing_lookupentry e ON e.token = corrected.token AND e.hit AND e.member_id <> corrected.owner
    WHERE e.created_at >= %s
    GROUP BY e.member_id, e.lookup_id
    ORDER BY e.member_id, e.lookup_id
"""


def record_corrected_alerts(*, records: list[Record], now: dt.datetime) -> int:
    """Tell every member whose lookups in the look-back window relied on these records that they changed.

    One alert per lookup, naming the member's own lookup id and the identifiers (type and token as
    the member sent them) that relied on the changed data.
    """
    if not records:
        return 0
    since = now - dt.timedelta(days=settings.RISKSHARE_CORRECTION_LOOKBACK_DAYS)
    relied = execute_binary(_RELIED_SQL, [[record.pk for record in records], since], fetch=True)
    if not relied:
        return 0
    answers = dict(Lookup.objects.filter(pk__in=[row[1] for row in relied]).values_list("pk", "answer"))
    rows = []
    for member_id, lookup_id, looked_up_at, positions in relied:
        results = answer_unpack(answers[lookup_id], lookup_id=lookup_id)
        rows.append(
            (
                member_id,
                "record_corrected",
                {
                    "lookup_id": lookup_id,
                    "looked_up_at": looked_up_at.isoformat(),
                    "identifiers_sealed": identifiers_seal(
                        [{"type": results[p]["type"], "token": results[p]["token"]} for p in positions],
                        member_id=member_id,
                        lookup_id=lookup_id,
                    ),
                },
            )
        )
    return alerts_create(rows)
