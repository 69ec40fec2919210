"""Reads for members."""

from __future__ import annotations

import hmac

from django.db.models import QuerySet

from members.models import AuditEvent, Credential, Institution
from members.services import KEY_PREFIX, key_digest


def credential_by_key(*, key: str) -> Credential | None:
    """The credential a presented key belongs to, with its institution; None if unknown."""
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    digest = key_digest(key)
    credential = Credential.objects.select_related("institution").filter(digest=digest).first()
    if credential is None or not hmac.compare_digest(credential.digest, digest):
        return None
    return credential


def credential_by_prefix(*, prefix: str) -> Credential | None:
    return Credential.objects.select_related("institution").filter(prefix=prefix).first()


def institution_by_uscc(*, uscc: str) -> Institution | None:
    return Institution.objects.filter(uscc=uscc.strip().upper()).first()


def audit_event_list(*, object_type: str | None = None, object_id: str | None = None) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.all()
    if object_type:
        events = events.filter(object_type=object_type)
    if object_id:
        events = events.filter(object_id=object_id)
    return events.order_by("-seq")
