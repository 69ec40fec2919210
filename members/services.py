"""Writes for members: institutions, their lifecycle, credentials.

Each service owns its transaction and writes its audit event inside it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

import pghistory
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core.clock import business_today
from core.errors import ConflictError, DomainError, InvalidTransition
from members.audit import Actor, audit_event_record
from members.models import Credential, Institution, InstitutionTransition

Status = Institution.Status

# The lifecycle of docs/design.md: applicant → under_review → active ⇄ suspended → withdrawn.
# A review may also send an application back, and a member may withdraw at any point.
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    Status.APPLICANT: frozenset({Status.UNDER_REVIEW, Status.WITHDRAWN}),
    Status.UNDER_REVIEW: frozenset({Status.ACTIVE, Status.APPLICANT, Status.WITHDRAWN}),
    Status.ACTIVE: frozenset({Status.SUSPENDED, Status.WITHDRAWN}),
    Status.SUSPENDED: frozenset({Status.ACTIVE, Status.WITHDRAWN}),
    Status.WITHDRAWN: frozenset(),
}

KEY_PREFIX = "rsk_"


def _validation_to_domain(exc: ValidationError) -> DomainError:
    """The first problem of a model validation, as a domain error naming its field."""
    field, errors = next(iter(exc.error_dict.items()))
    first = errors[0]
    message = first.message % first.params if first.params else first.message
    return DomainError(str(message), code=first.code or "invalid", field=field)


def institution_create(
    *,
    actor: Actor,
    name: str,
    uscc: str,
    kind: str,
    contact_name: str = "",
    contact_email: str = "",
    contact_phone: str = "",
    licence_number: str = "",
    licence_expiry: dt.date | None = None,
) -> Institution:
    institution = Institution(
        name=name.strip(),
        uscc=uscc.strip().upper(),
        kind=kind,
        contact_name=contact_name,
        contact_email=contact_email,
        contact_phone=contact_phone,
        licence_number=licence_number,
        licence_expiry=licence_expiry,
    )
    try:
        institution.full_clean(validate_unique=False)
    except ValidationError as exc:
        raise _validation_to_domain(exc) from exc
    try:
        with transaction.atomic(), pghistory.context(actor=actor.label):
            institution.save()
            audit_event_record(
                actor=actor,
                action="institution.created",
                obj=institution,
                payload={"uscc": institution.uscc, "kind": institution.kind, "name": institution.name},
            )
    except IntegrityError as exc:
        raise ConflictError(
            _("An institution with this unified social credit code already exists."), code="uscc_taken", field="uscc"
        ) from exc
    return institution


def institution_update(*, actor: Actor, institution: Institution, changes: dict) -> Institution:
    """Change descriptive fields (not the status, which only moves through transitions)."""
    editable = {"name", "kind", "contact_name", "contact_email", "contact_phone", "licence_number", "licence_expiry"}
    unknown = set(changes) - editable
    if unknown:
        raise DomainError(_("These fields cannot be changed here: %s") % ", ".join(sorted(unknown)))
    before = {field: getattr(institution, field) for field in changes}
    for field, value in changes.items():
        setattr(institution, field, value)
    try:
        institution.full_clean(validate_unique=False)
    except ValidationError as exc:
        raise _validation_to_domain(exc) from exc
    changed = {f: [before[f], getattr(institution, f)] for f in changes if before[f] != getattr(institution, f)}
    if not changed:
        return institution
    with transaction.atomic(), pghistory.context(actor=actor.label):
        institution.save(update_fields=list(changed))
        audit_event_record(actor=actor, action="institution.updated", obj=institution, payload={"changes": changed})
    return institution


def institution_transition(
    *, actor: Actor, institution: Institution, to_status: str, reason: str, reviewer=None
) -> Institution:
    """Move an institution through its lifecycle, recording who, when and why.

    The row is locked so two operators acting at once cannot both apply a move
    from the same starting state.
    """
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("A reason is required for every status change."), code="reason_required", field="reason")
    if to_status not in Status.values:
        raise DomainError(_("Unknown status: %s") % to_status, code="unknown_status", field="to_status")
    with transaction.atomic(), pghistory.context(actor=actor.label, reason=reason):
        locked = Institution.objects.select_for_update().get(pk=institution.pk)
        from_status = locked.status
        if to_status not in ALLOWED_TRANSITIONS[from_status]:
            raise InvalidTransition(
                _("An institution cannot move from %(from)s to %(to)s.")
                % {"from": Status(from_status).label, "to": Status(to_status).label}
            )
        now = timezone.now()
        if to_status == Status.ACTIVE:
            if not locked.licence_number or locked.licence_expiry is None:
                raise DomainError(
                    _("Record the licence number and licence expiry before activating."), code="licence_required"
                )
            if locked.licence_expiry <= business_today():
                raise DomainError(_("The licence has expired; it cannot be activated."), code="licence_expired")
            locked.reviewed_by = reviewer
            locked.reviewed_at = now
        locked.status = to_status
        locked.status_changed_at = now
        locked.save(update_fields=["status", "status_changed_at", "reviewed_by", "reviewed_at"])
        InstitutionTransition.objects.create(
            institution=locked,
            from_status=from_status,
            to_status=to_status,
            reason=reason,
            actor_label=actor.label,
            created_at=now,
        )
        audit_event_record(
            actor=actor,
            action="institution.status_changed",
            obj=locked,
            payload={"from": from_status, "to": to_status, "reason": reason},
        )
    return locked


def parse_networks(values: Iterable[str]) -> list[str]:
    """Normalize CIDR networks (a bare address is a /32 or /128); refuse what is not one."""
    networks = []
    for value in values:
        value = value.strip()
        if not value:
            continue
        try:
            networks.append(str(ipaddress.ip_network(value, strict=False)))
        except ValueError as exc:
            raise DomainError(
                _("Not an IP network in CIDR form: %s") % value, code="bad_network", field="allowed_ips"
            ) from exc
    return networks


def key_digest(key: str) -> str:
    # Keys carry 256 bits of randomness, so a plain SHA-256 is not brute-forceable
    # and lets authentication find the row by an indexed equality.
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedCredential:
    credential: Credential
    key: str  # shown once, never stored


def credential_issue(
    *,
    actor: Actor,
    institution: Institution,
    name: str,
    scopes: Iterable[str],
    allowed_ips: Iterable[str] = (),
    expires_at: dt.datetime | None = None,
) -> IssuedCredential:
    scopes = sorted(set(scopes))
    if not scopes:
        raise DomainError(_("Give the credential at least one scope."), code="scopes_required", field="scopes")
    unknown = [scope for scope in scopes if scope not in Credential.Scope.values]
    if unknown:
        raise DomainError(_("Unknown scope: %s") % ", ".join(unknown), code="unknown_scope", field="scopes")
    if institution.status == Status.WITHDRAWN:
        raise ConflictError(_("A withdrawn institution cannot be given credentials."), code="member_withdrawn")
    if expires_at is not None and expires_at <= timezone.now():
        raise DomainError(_("The expiry must be in the future."), code="expiry_in_past", field="expires_at")
    networks = parse_networks(allowed_ips)
    public_part = secrets.token_hex(6)
    key = f"{KEY_PREFIX}{public_part}_{secrets.token_urlsafe(32)}"
    with transaction.atomic(), pghistory.context(actor=actor.label):
        credential = Credential.objects.create(
            institution=institution,
            name=name.strip() or "default",
            prefix=f"{KEY_PREFIX}{public_part}",
            digest=key_digest(key),
            scopes=scopes,
            allowed_ips=networks,
            expires_at=expires_at,
            created_by=actor.label,
        )
        audit_event_record(
            actor=actor,
            action="credential.issued",
            obj=credential,
            payload={
                "institution": institution.uscc,
                "prefix": credential.prefix,
                "scopes": scopes,
                "allowed_ips": networks,
                "expires_at": expires_at,
            },
        )
    return IssuedCredential(credential=credential, key=key)


def credential_revoke(*, actor: Actor, credential: Credential, reason: str) -> Credential:
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("A reason is required to revoke a credential."), code="reason_required", field="reason")
    now = timezone.now()
    with transaction.atomic(), pghistory.context(actor=actor.label, reason=reason):
        updated = Credential.objects.filter(pk=credential.pk, revoked_at__isnull=True).update(
            revoked_at=now, revoked_reason=reason, revoked_by=actor.label
        )
        if updated == 0:
            raise ConflictError(_("This credential is already revoked."), code="already_revoked")
        audit_event_record(
            actor=actor,
            action="credential.revoked",
            obj=credential,
            payload={"prefix": credential.prefix, "reason": reason},
        )
    credential.refresh_from_db()
    return credential


def credential_touch(*, credential: Credential, now: dt.datetime, interval_seconds: int) -> None:
    """Record use, at most once per interval (a conditional update, no read first)."""
    threshold = now - dt.timedelta(seconds=interval_seconds)
    if credential.last_used_at is not None and credential.last_used_at > threshold:
        return
    Credential.objects.filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=threshold), pk=credential.pk).update(
        last_used_at=now
    )
    credential.last_used_at = now
