"""Protective registrations: made, renewed and withdrawn, each audited in its own transaction."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import ConflictError, DomainError
from members.audit import Actor, audit_event_record
from members.models import Credential, Institution
from sharing.protection.models import ProtectiveRegistration, ProtectiveToken
from sharing.protection.selectors import registrations_active
from sharing.protection.signals import registration_made
from sharing.tokens.pepper import pepper_tokens
from sharing.tokens.selectors import key_version_require_current

YEARS = 2


def two_years_after(moment: dt.datetime) -> dt.datetime:
    try:
        return moment.replace(year=moment.year + YEARS)
    except ValueError:  # 29 February: the day before 1 March
        return moment.replace(year=moment.year + YEARS, month=2, day=28)


def protective_register(
    *,
    actor: Actor,
    tokens: list[tuple[str, bytes]],
    reason: str,
    member: Institution | None = None,
    consent_reference: str = "",
) -> ProtectiveRegistration:
    """Mark a person's peppered tokens at risk for two years; every other member's watch on them hears of it.

    Refused while an active registration holds any of the tokens (renew that one instead).
    """
    if not tokens:
        raise DomainError(_("Give at least one identifier to register."), code="required", field="/identifiers")
    if reason not in ProtectiveRegistration.Reason.values:
        raise DomainError(_("Choose why the identity is at risk."), code="invalid", field="/reason")
    now = timezone.now()
    peppered = sorted({token for _type, token in tokens})
    with transaction.atomic():
        _tokens_lock(peppered)
        existing = registrations_active(tokens=peppered, now=now).first()
        if existing is not None:
            raise ConflictError(
                _("Protective registration %(id)s already covers these identifiers; renew it instead.")
                % {"id": existing.pk},
                code="already_registered",
            )
        registration = ProtectiveRegistration.objects.create(
            reason=reason,
            channel=ProtectiveRegistration.Channel.MEMBER if member else ProtectiveRegistration.Channel.DESK,
            member=member,
            consent_reference=consent_reference,
            registered_at=now,
            registered_by=actor.label,
            expires_at=two_years_after(now),
        )
        ProtectiveToken.objects.bulk_create(
            ProtectiveToken(
                registration=registration,
                id_type=id_type,
                token=token,
                registered_at=registration.registered_at,
                in_force_until=registration.expires_at,
            )
            for id_type, token in sorted(set(tokens))
        )
        audit_event_record(
            actor=actor,
            action="protection.registered",
            obj=registration,
            payload={
                "channel": registration.channel,
                "reason": reason,
                "identifiers": len(peppered),
                "expires_at": registration.expires_at,
            },
            institution_id=member.pk if member else None,
        )
        registration_made.send(sender=None, registration_id=registration.pk)
    return registration


def protective_register_for_customer(
    *, credential: Credential, identifiers: list[tuple[str, str]], key_version: int, reason: str, consent_reference: str
) -> ProtectiveRegistration:
    """A member registers its own customer's tokens, with the person's consent (the API's way in)."""
    key_version_require_current(version=key_version)
    peppered = pepper_tokens([token for _type, token in identifiers])
    return protective_register(
        actor=Actor.credential(credential),
        tokens=[(id_type, token) for (id_type, _token), token in zip(identifiers, peppered, strict=True)],
        reason=reason,
        member=credential.institution,
        consent_reference=consent_reference.strip(),
    )


def protective_renew(*, actor: Actor, registration_id: int) -> ProtectiveRegistration:
    """Two more years from now, for a registration not withdrawn (an expired one may be renewed too)."""
    now = timezone.now()
    with transaction.atomic():
        renewed = ProtectiveRegistration.objects.filter(pk=registration_id, withdrawn_at__isnull=True).update(
            expires_at=two_years_after(now), renewed_at=now
        )
        if not renewed:
            raise ConflictError(_("This registration was withdrawn; make a new one."), code="withdrawn")
        registration = ProtectiveRegistration.objects.get(pk=registration_id)
        ProtectiveToken.objects.filter(registration_id=registration_id).update(in_force_until=registration.expires_at)
        audit_event_record(
            actor=actor,
            action="protection.renewed",
            obj=registration,
            payload={"expires_at": registration.expires_at},
        )
    return registration


def protective_withdraw(*, actor: Actor, registration_id: int) -> ProtectiveRegistration:
    """The person withdraws the mark: lookups stop answering identity_at_risk at once."""
    now = timezone.now()
    with transaction.atomic():
        withdrawn = ProtectiveRegistration.objects.filter(pk=registration_id, withdrawn_at__isnull=True).update(
            withdrawn_at=now, withdrawn_by=actor.label
        )
        if not withdrawn:
            raise ConflictError(_("This registration is already withdrawn."), code="withdrawn")
        registration = ProtectiveRegistration.objects.get(pk=registration_id)
        ProtectiveToken.objects.filter(registration_id=registration_id).update(in_force_until=registration.withdrawn_at)
        audit_event_record(actor=actor, action="protection.withdrawn", obj=registration, payload={})
    return registration


def _tokens_lock(peppered: list[bytes]) -> None:
    # Two desks registering the same person at once: the second waits and then sees the first's registration.
    from django.db import connection

    with connection.cursor() as cursor:
        for token in peppered:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(encode(%s::bytea, 'hex'), 7))", [token])
