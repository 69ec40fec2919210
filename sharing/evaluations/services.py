"""Token evaluations: the member's blinded elements through the evaluator, metered and audited.

Order of a request: the key version (current, v2) → a read of the member's counters (a member already over
its limits costs the evaluator nothing) → the evaluator (a bad element refuses the request, nothing counted)
→ one transaction that counts the elements within the limits and appends the audit event. Only then does the
answer leave. The evaluator is never called inside a transaction: a batch takes about a second and the audit
chain's lock must not wait for it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError, LimitReached, Unavailable
from members.audit import Actor, audit_event_record
from members.models import Credential
from sharing.evaluations.models import TokenEvaluationLimit
from sharing.evaluations.selectors import WINDOW_DAYS, Allowance, allowance_cache_key, evaluation_allowance
from sharing.lookups.models import MemberFlag
from sharing.records.models import Record, RecordStatus
from sharing.records.services import record_retract
from sharing.tokens.evaluator_wire import EvaluatorRefused, EvaluatorUnavailable
from sharing.tokens.gateway import evaluator, unavailable
from sharing.tokens.identifiers import InvalidIdentifier, canonicalize
from sharing.tokens.models import ConsortiumKey
from sharing.tokens.selectors import voprf_key_current

_COUNTS_SQL = """
    SELECT coalesce(sum(evaluated), 0),
           coalesce(sum(evaluated) FILTER (WHERE id_type = %(type)s AND day = %(day)s), 0)
      FROM sharing_tokenevaluationcount
     WHERE member_id = %(member)s AND day > %(day)s - %(window)s
"""
# Counts the request only while both limits hold: today's for the type and the window's for the member. When
# the window's refuses, the SELECT yields no row and nothing is written; when today's does, the conflict's
# condition fails. Either way nothing is RETURNed. (Two requests at once may both pass the window's sum, which
# is not locked: an overshoot of at most one request per process, far below the slack.)
_CONSUME_SQL = """
    WITH window_total AS (
        SELECT coalesce(sum(evaluated), 0) AS total FROM sharing_tokenevaluationcount
         WHERE member_id = %(member)s AND day > %(day)s - %(window)s
    )
    INSERT INTO sharing_tokenevaluationcount AS c (member_id, id_type, day, evaluated, refused)
    SELECT %(member)s, %(type)s, %(day)s, %(count)s, 0 FROM window_total
     WHERE %(count)s <= %(per_day)s AND total + %(count)s <= %(window_limit)s
    ON CONFLICT (member_id, id_type, day)
    DO UPDATE SET evaluated = c.evaluated + EXCLUDED.evaluated WHERE c.evaluated + EXCLUDED.evaluated <= %(per_day)s
    RETURNING evaluated
"""
_REFUSED_SQL = """
    INSERT INTO sharing_tokenevaluationcount AS c (member_id, id_type, day, evaluated, refused)
    VALUES (%(member)s, %(type)s, %(day)s, 0, %(count)s)
    ON CONFLICT (member_id, id_type, day) DO UPDATE SET refused = c.refused + EXCLUDED.refused
"""


@dataclass(frozen=True)
class Evaluation:
    evaluated: list[bytes]
    proof: bytes


def _seconds_to_midnight(now: dt.datetime) -> int:
    tomorrow = (now.astimezone(dt.UTC) + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, int((tomorrow - now).total_seconds()))


def _params(member_id: int, id_type: str, count: int, now: dt.datetime, allowance: Allowance) -> dict:
    return {
        "member": member_id,
        "type": id_type,
        "day": now.astimezone(dt.UTC).date(),
        "window": WINDOW_DAYS,
        "count": count,
        "per_day": allowance.daily_limit(id_type),
        "window_limit": allowance.window_limit,
    }


def _over_limit(params: dict, window_total: int, today: int) -> str | None:
    if today + params["count"] > params["per_day"]:
        return "evaluations_per_day"
    if window_total + params["count"] > params["window_limit"]:
        return "evaluations_ratio"
    return None


def _refuse(*, credential: Credential, key: ConsortiumKey, params: dict, limit: str, now: dt.datetime):
    """Count the refusal, flag the member for the operators, audit it: committed, then the 429."""
    member_id = credential.institution_id
    detail = {
        "limit": limit,
        "type": params["type"],
        "key_version": key.version,
        "requested": params["count"],
        "per_day": params["per_day"],
        "window_limit": params["window_limit"],
    }
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(_REFUSED_SQL, params)
        MemberFlag.objects.get_or_create(
            member_id=member_id, kind=MemberFlag.Kind.TOKEN_ENUMERATION, day=params["day"], defaults={"detail": detail}
        )
        audit_event_record(
            actor=Actor.credential(credential), action="tokens.evaluation_refused", obj=key, payload=detail
        )
    if limit == "evaluations_per_day":
        message = _(
            "Your institution has reached its token evaluations for %(type)s today (%(limit)s); the operator "
            "has been notified. Retry after the time given in Retry-After, or ask the operator for a higher limit."
        ) % {"type": params["type"], "limit": params["per_day"]}
        retry_after = _seconds_to_midnight(now)
    else:
        message = _(
            "Your institution's token evaluations over 30 days exceed %(ratio)s times the tokens it used in "
            "submissions, lookups and watches, plus an allowance; the operator has been notified."
        ) % {"ratio": settings.RISKSHARE_EVALUATIONS_RATIO}
        retry_after = 24 * 3600
    raise LimitReached(message, retry_after=retry_after, code=limit)


def token_evaluate(
    *, credential: Credential, key_version: int, id_type: str, blinded: list[bytes], body_digest: str
) -> Evaluation:
    """Evaluate a member's blinded elements under a current v2 key version, within its limits, audited."""
    key = voprf_key_current(version=key_version)
    now = timezone.now()
    member_id = credential.institution_id
    allowance = evaluation_allowance(member_id=member_id, now=now)
    params = _params(member_id, id_type, len(blinded), now, allowance)
    with connection.cursor() as cursor:
        cursor.execute(_COUNTS_SQL, params)
        window_total, today = cursor.fetchone()
    limit = _over_limit(params, window_total, today)
    if limit:
        _refuse(credential=credential, key=key, params=params, limit=limit, now=now)
    try:
        evaluated, proof = evaluator().evaluate(key_version, id_type, blinded)
    except EvaluatorRefused as exc:
        if exc.code == "bad_element":
            raise DomainError(
                _("Element %(index)s is not a valid ristretto255 element (or is the identity); nothing was evaluated.")
                % {"index": exc.answer.get("index")},
                code="bad_element",
                field=f"/blinded/{exc.answer.get('index')}",
            ) from None
        raise Unavailable(
            _("The token evaluator has no key for version %(v)s; the operator has been told.") % {"v": key_version},
            retry_after=60,
            code="evaluator_unavailable",
        ) from None
    except EvaluatorUnavailable as exc:
        raise unavailable(exc) from None
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(_CONSUME_SQL, params)
            admitted = cursor.fetchone()
        if admitted is not None:
            audit_event_record(
                actor=Actor.credential(credential),
                action="tokens.evaluated",
                obj=key,
                payload={
                    "key_version": key_version,
                    "type": id_type,
                    "count": len(blinded),
                    "body_sha256": body_digest,
                },
            )
    if admitted is None:  # a request in parallel took what was left
        with connection.cursor() as cursor:
            cursor.execute(_COUNTS_SQL, params)
            window_total, today = cursor.fetchone()
        _refuse(
            credential=credential,
            key=key,
            params=params,
            limit=_over_limit(params, window_total, today) or "evaluations_per_day",
            now=now,
        )
    return Evaluation(evaluated, proof)


def token_evaluate_full(
    *, actor: Actor, key_version: int, id_type: str, raw_values: list[str], purpose: str
) -> list[str]:
    """The v2 tokens of identifiers the platform itself was shown: the full ``Evaluate`` in the evaluator.

    For the operator's desk (the data subject's own report, 本人查询), where the person presents their
    identifiers in person. The values are canonicalized here (InvalidIdentifier names the reason, never the
    value), sent over the local socket, and forgotten: neither they nor the tokens are stored or logged. The
    audit event says who asked, why, under which key and how many, nothing more.
    """
    key = voprf_key_current(version=key_version)
    try:
        canonicals = [canonicalize(id_type, raw) for raw in raw_values]
    except InvalidIdentifier as exc:
        raise DomainError(
            _("The %(type)s given does not validate (%(reason)s).") % {"type": id_type, "reason": exc.reason},
            code=f"invalid_{exc.reason}",
        ) from None
    try:
        tokens = evaluator().evaluate_full(key_version, id_type, canonicals)
    except EvaluatorUnavailable as exc:
        raise unavailable(exc) from None
    except EvaluatorRefused:
        raise Unavailable(
            _("The token evaluator has no key for version %(v)s; the operator has been told.") % {"v": key_version},
            retry_after=60,
            code="evaluator_unavailable",
        ) from None
    with transaction.atomic():
        audit_event_record(
            actor=actor,
            action="tokens.evaluated_for_subject",
            obj=key,
            payload={"key_version": key_version, "type": id_type, "count": len(canonicals), "purpose": purpose},
        )
    return tokens


def body_sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def evaluation_limit_set(*, actor: Actor, member, evaluations_per_day: int) -> TokenEvaluationLimit:
    """An operator's limit of token evaluations per type per day for one member, audited."""
    with transaction.atomic():
        limit, _created = TokenEvaluationLimit.objects.update_or_create(
            member=member,
            defaults={
                "evaluations_per_day": evaluations_per_day,
                "updated_at": timezone.now(),
                "updated_by": actor.label,
            },
        )
        audit_event_record(
            actor=actor,
            action="evaluation_limit.set",
            obj=limit,
            payload={"evaluations_per_day": evaluations_per_day},
            institution_id=member.pk,
        )
        transaction.on_commit(lambda: cache.delete(allowance_cache_key(member.pk)))
    return limit


def retired_key_records_withdraw(*, actor: Actor, version: int) -> int:
    """After the cut-over: the standing records still under retired key version ``version`` are retracted.

    Nobody can compute their tokens any more (lookups under a retired version are refused), so they would sit in
    the summaries matching nothing while still counting as reports. Each is retracted as its member would
    (audited, in the log of record changes, summaries refreshed), with the reason saying why; the member can
    report it again under the current version. Returns how many.
    """
    key = ConsortiumKey.objects.filter(version=version).first()
    if key is None or key.state != ConsortiumKey.State.RETIRED:
        raise DomainError(
            _("Retire key version %(v)s first; only a retired version's records are withdrawn.") % {"v": version},
            code="key_version_not_retired",
        )
    # Stored data (the record's reason, the audit payload), in one language like every stored reason.
    reason = f"Key version {version} was retired before this record was re-submitted under a current one."
    withdrawn = 0
    for record in Record.objects.filter(key_version=version).exclude(status=RecordStatus.RETRACTED).iterator():
        record_retract(actor=actor, record=record, reason=reason)
        withdrawn += 1
    return withdrawn
