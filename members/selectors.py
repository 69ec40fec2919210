"""Reads for members."""

from __future__ import annotations

import functools
import hmac

from django.db import connection
from django.db.models import QuerySet

from core.sql import execute_binary
from members.models import AuditEvent, Credential, Institution
from members.services import KEY_PREFIX, key_digest


@functools.cache
def _credential_query() -> tuple[str, list[str], list[str]]:
    """The statement behind every API request, built once: the ORM spends longer compiling it than it runs.

    Returns the statement and the attribute names of the credential's and the institution's columns.
    """
    credential_fields = Credential._meta.concrete_fields
    institution_fields = Institution._meta.concrete_fields
    columns = [f'c."{field.column}"' for field in credential_fields]
    columns += [f'i."{field.column}"' for field in institution_fields]
    sql = (
        f"SELECT {', '.join(columns)} FROM {Credential._meta.db_table} c "  # noqa: S608 - names from model metadata
        f"JOIN {Institution._meta.db_table} i ON i.id = c.institution_id WHERE c.digest = %s"
    )
    return sql, [field.attname for field in credential_fields], [field.attname for field in institution_fields]


def credential_by_key(*, key: str) -> Credential | None:
    """The credential a presented key belongs to, with its institution; None if unknown."""
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    digest = key_digest(key)
    sql, credential_fields, institution_fields = _credential_query()
    # Read on every request: a revocation, a suspension or a change of scopes committed by any
    # process is seen by the next request that starts after it.
    rows = execute_binary(sql, [digest], fetch=True, prepare=True)
    if not rows:
        return None
    [row] = rows
    split = len(credential_fields)
    credential = Credential.from_db(connection.alias, credential_fields, row[:split])
    credential.institution = Institution.from_db(connection.alias, institution_fields, row[split:])
    if not hmac.compare_digest(credential.digest, digest):
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
    return events.order_by("-seq", "-id")
