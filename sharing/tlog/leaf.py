"""The log's leaves: what a record change commits to, without personal data (docs/transparency-log.md).

A leaf is the canonical JSON (keys sorted, no white space, UTF-8) of
``{"kind", "member", "record_digest", "reference_digest", "seq", "time"}``:

- ``seq``: the leaf's index in the log; ``time``: when the change was made, milliseconds since the epoch;
- ``kind``: the change (``CHANGES``); ``member``: the reporting member's id for a change it sent,
  ``null`` for the platform's own (a dispute, a purge), so that a leaf never tells who reported a
  disputed subject;
- ``reference_digest = SHA-256(salt || UTF-8 reference)`` and
  ``record_digest = SHA-256(salt || canonical change)``, in lowercase hex, with the record's random
  16-byte salt. The canonical change is the canonical JSON of what changed: for a reported or updated
  record, the record as the member sent it (its fields as sent, identifiers with the member's own
  tokens in the order sent); for a resolve or retract, the reference and the new state; for a
  platform change, the reference and the event.

Purging a record deletes its salt: its leaves stay, and nothing links them to anything any more.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

SALT_SIZE = 16

REPORTED = "reported"
UPDATED = "updated"
RESOLVED = "resolved"
RETRACTED = "retracted"
DISPUTED = "disputed"
DISPUTE_SETTLED = "dispute_settled"
PURGED = "purged"
CHANGES = (REPORTED, UPDATED, RESOLVED, RETRACTED, DISPUTED, DISPUTE_SETTLED, PURGED)
# Changes the platform makes, whose leaves name no member.
PLATFORM_CHANGES = frozenset({DISPUTED, DISPUTE_SETTLED, PURGED})


def canonical_json(value: Any) -> bytes:
    """Keys sorted, no white space, UTF-8; dates as ISO 8601 (YYYY-MM-DD)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def salted(salt: bytes, data: bytes) -> bytes:
    return hashlib.sha256(salt + data).digest()


def record_change(record: Mapping[str, Any]) -> bytes:
    """A reported or updated record as sent: fields without a value are left out, identifiers as
    ``{"type", "token"}`` objects in the order sent."""
    fields = {key: value for key, value in record.items() if value is not None and value != ""}
    fields["identifiers"] = [{"token": token, "type": id_type} for id_type, token in record["identifiers"]]
    return canonical_json(fields)


def state_change(reference: str, **state: Any) -> bytes:
    """A resolve, a retract or a platform change: the reference and the new state or event."""
    return canonical_json({"reference": reference, **state})


def time_millis(time: dt.datetime) -> int:
    return (time - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(milliseconds=1)


def leaf_encode(
    *, seq: int, kind: str, member: int | None, reference_digest: bytes, record_digest: bytes, time: dt.datetime | int
) -> bytes:
    """The leaf; ``time`` as a moment, or already in milliseconds (as a receipt gives it)."""
    millis = time if isinstance(time, int) else time_millis(time)
    return canonical_json(
        {
            "kind": kind,
            "member": member,
            "record_digest": record_digest.hex(),
            "reference_digest": reference_digest.hex(),
            "seq": seq,
            "time": millis,
        }
    )
