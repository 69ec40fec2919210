"""A member's own records after submission: resolve, retract; and matching of accepted batches."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core.clock import business_today
from core.errors import ConflictError, DomainError
from core.jobs import job_enqueue
from members.audit import Actor, audit_event_record
from sharing.records.matching import batch_match, dirty_tokens_drain, summaries_refresh
from sharing.records.models import Batch, Record, RecordIdentifier, RecordStatus
from sharing.tlog import leaf
from sharing.tlog.services import record_change_log


def _record_tokens(record: Record) -> list[bytes]:
    return [bytes(token) for token in RecordIdentifier.objects.filter(record=record).values_list("token", flat=True)]


def actor_member(actor: Actor, record: Record) -> int | None:
    """The member a leaf names: the record's own when its member made the change, none for an operator."""
    return record.member_id if actor.institution_id == record.member_id else None


def record_resolve(*, actor: Actor, record: Record, resolved_date: dt.date) -> Record:
    """The debt was settled (or the adverse event ended) on ``resolved_date``."""
    if resolved_date > business_today():
        raise DomainError(_("This date is in the future."), code="future_date", field="/resolved_date")
    if resolved_date < record.event_date:
        raise DomainError(_("The resolved date is before the event date."), code="date_order", field="/resolved_date")
    with transaction.atomic():
        locked = Record.objects.select_for_update().get(pk=record.pk)
        if locked.status not in (RecordStatus.ACTIVE, RecordStatus.DISPUTED):
            raise ConflictError(
                _("Only an active record can be resolved; this one is %(status)s.") % {"status": locked.status},
                code="record_not_active",
            )
        now = timezone.now()
        locked.resolved_date = resolved_date
        if locked.status == RecordStatus.ACTIVE:
            locked.status = RecordStatus.RESOLVED
        locked.updated_at = now
        locked.save(update_fields=["resolved_date", "status", "updated_at"])
        record_change_log(
            locked, kind=leaf.RESOLVED, member_id=actor_member(actor, locked), now=now,
            status=locked.status, resolved_date=resolved_date,
        )  # fmt: skip
        summaries_refresh(_record_tokens(locked))
        audit_event_record(actor=actor, action="record.resolved", obj=locked, payload={"resolved_date": resolved_date})
    return locked


def record_retract(*, actor: Actor, record: Record, reason: str) -> Record:
    """The member withdraws its report; it leaves lookups at once (same transaction)."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("A reason is required to retract a record."), code="required", field="/reason")
    with transaction.atomic():
        locked = Record.objects.select_for_update().get(pk=record.pk)
        if locked.status == RecordStatus.RETRACTED:
            raise ConflictError(_("This record is already retracted."), code="already_retracted")
        locked.status = RecordStatus.RETRACTED
        locked.retract_reason = reason[:2000]
        locked.retracted_at = locked.updated_at = timezone.now()
        locked.save(update_fields=["status", "retract_reason", "retracted_at", "updated_at"])
        record_change_log(
            locked, kind=leaf.RETRACTED, member_id=actor_member(actor, locked), now=locked.updated_at,
            status=locked.status, reason=locked.retract_reason,
        )  # fmt: skip
        summaries_refresh(_record_tokens(locked))
        audit_event_record(actor=actor, action="record.retracted", obj=locked, payload={"reason": reason[:2000]})
    return locked


def batch_process(*, batch_id: int) -> bool:
    """Match one accepted batch: recompute its records' tokens, drain the dirty-token queue, mark it done.

    Idempotent: a batch already done is left alone; a batch whose worker died
    is taken again (the chunk in progress was rolled back with the worker's
    transaction, and recomputing a summary twice gives the same summary).
    Returns whether this call did the work.
    """
    now = timezone.now()
    claimed = Batch.objects.filter(pk=batch_id, status__in=[Batch.Status.RECEIVED, Batch.Status.PROCESSING]).update(
        status=Batch.Status.PROCESSING, updated_at=now, attempts=F("attempts") + 1
    )
    if not claimed:
        return False
    batch_match(batch_id)
    dirty_tokens_drain()
    with transaction.atomic():
        done = Batch.objects.filter(pk=batch_id, status=Batch.Status.PROCESSING).update(
            status=Batch.Status.DONE, processed_at=timezone.now(), updated_at=timezone.now()
        )
        if done:
            batch = Batch.objects.get(pk=batch_id)
            audit_event_record(
                actor=Actor.system("matching"),
                action="batch.matched",
                obj=batch,
                payload={"accepted": batch.accepted, "attempts": batch.attempts},
            )
    if done:
        # Its leaves get their indices now rather than at the next scheduled run, so its receipt is soon ready.
        job_enqueue("sharing.log_sequence")
    return bool(done)


def batch_enqueue(*, batch_id: int) -> bool:
    """Send the batch's matching job; when the broker refuses it, mark the batch for the next sweep at once."""
    if job_enqueue("sharing.batch_process", batch_id):
        return True
    Batch.objects.filter(pk=batch_id, status=Batch.Status.RECEIVED).update(enqueue_failed=True)
    return False


def batches_stale(*, now: dt.datetime | None = None) -> list[int]:
    """Batches a failed send, a lost message or a killed worker left behind, claimed for re-enqueueing.

    A failed send is known at once (``batch_enqueue``), so those go at the next sweep; the others
    only look lost after ``RISKSHARE_BATCH_STALE_AFTER``, since a busy queue delays a message too.
    """
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.RISKSHARE_BATCH_STALE_AFTER)
    pending = Q(status__in=[Batch.Status.RECEIVED, Batch.Status.PROCESSING])
    lost = pending & (Q(updated_at__lt=cutoff) | Q(status=Batch.Status.RECEIVED, enqueue_failed=True))
    stale = list(Batch.objects.filter(lost).order_by("pk").values_list("pk", flat=True)[:1000])
    # Touch them so the next sweep does not enqueue them again while they wait in the queue.
    Batch.objects.filter(lost, pk__in=stale).update(updated_at=now, enqueue_failed=False)
    return stale
