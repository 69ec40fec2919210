"""Key versions: a v1 consortium key created to a key file, a v2 key created in the evaluator; retired after a move."""

from __future__ import annotations

import hashlib
import json

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import ConflictError, DomainError, NotFoundError
from members.audit import Actor, audit_event_record
from sharing.tokens.evaluator_wire import EvaluatorUnavailable
from sharing.tokens.gateway import evaluator, unavailable
from sharing.tokens.keyfile import ConsortiumKeyMaterial, key_generate
from sharing.tokens.models import ConsortiumKey
from sharing.tokens.selectors import cached_forget, key_version_cache_key


def consortium_key_create(*, actor: Actor) -> tuple[ConsortiumKey, ConsortiumKeyMaterial]:
    """Generate the next key version and register it as current.

    The caller writes the returned key material to a key file for distribution;
    only the version and check value are stored.
    """
    try:
        with transaction.atomic():
            latest = ConsortiumKey.objects.aggregate(latest=Max("version"))["latest"] or 0
            material = key_generate(latest + 1)
            record = ConsortiumKey.objects.create(
                version=material.version, check_value=material.check_value, created_by=actor.label
            )
            cached_forget(key_version_cache_key(material.version))
            audit_event_record(
                actor=actor,
                action="consortium_key.created",
                obj=record,
                payload={"version": record.version, "check_value": record.check_value},
            )
    except IntegrityError as exc:
        raise ConflictError(_("Another key version was created at the same time; try again."), code="race") from exc
    return record, material


def public_keys_check_value(public_keys: dict[str, str]) -> str:
    """What an operator and a member compare to confirm they hold the same v2 public keys."""
    return hashlib.sha256(json.dumps(public_keys, sort_keys=True).encode()).hexdigest()[:16]


def voprf_key_create(*, actor: Actor) -> ConsortiumKey:
    """Open the next key version under the v2 scheme: the evaluator makes and keeps its seed.

    The web process receives only the per-type public keys, which are registered with the version; members
    fetch them signed from ``GET /api/v1/tokens/keys``. Both versions stay current until the old one is retired.
    """
    try:
        with transaction.atomic():
            latest = ConsortiumKey.objects.aggregate(latest=Max("version"))["latest"] or 0
            version = latest + 1
            try:
                # Idempotent in the evaluator: a version whose registration rolled back keeps its seed.
                public_keys = evaluator().seed_create(version)
            except EvaluatorUnavailable as exc:
                raise unavailable(exc) from None
            record = ConsortiumKey.objects.create(
                version=version,
                scheme=ConsortiumKey.Scheme.VOPRF_V2,
                public_keys=public_keys,
                check_value=public_keys_check_value(public_keys),
                created_by=actor.label,
            )
            cached_forget(key_version_cache_key(version))
            audit_event_record(
                actor=actor,
                action="consortium_key.created",
                obj=record,
                payload={"version": version, "scheme": record.scheme, "check_value": record.check_value},
            )
    except IntegrityError as exc:
        raise ConflictError(_("Another key version was created at the same time; try again."), code="race") from exc
    return record


def consortium_key_retire(*, actor: Actor, version: int, reason: str) -> ConsortiumKey:
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("A reason is required to retire a key version."), code="reason_required", field="reason")
    with transaction.atomic():
        current = list(
            ConsortiumKey.objects.select_for_update().filter(state=ConsortiumKey.State.CURRENT).order_by("version")
        )
        record = next((key for key in current if key.version == version), None)
        if record is None:
            if ConsortiumKey.objects.filter(version=version).exists():
                raise ConflictError(_("Key version %(v)s is already retired.") % {"v": version}, code="already_retired")
            raise NotFoundError(_("There is no key version %(v)s.") % {"v": version}, code="unknown_key_version")
        if len(current) == 1:
            raise ConflictError(
                _("Key version %(v)s is the only current one; create its successor first.") % {"v": version},
                code="last_current_key",
            )
        record.state = ConsortiumKey.State.RETIRED
        record.retired_at = timezone.now()
        record.retired_by = actor.label
        record.retired_reason = reason
        record.save(update_fields=["state", "retired_at", "retired_by", "retired_reason"])
        cached_forget(key_version_cache_key(version))
        audit_event_record(
            actor=actor, action="consortium_key.retired", obj=record, payload={"version": version, "reason": reason}
        )
    return record
