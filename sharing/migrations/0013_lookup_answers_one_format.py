"""Rewrite every stored lookup answer into the one format the service reads (sharing.lookups.services).

Answers written before the first release are in one of three earlier formats, sealed by migration
0012 or not: zlib-compressed JSON of result dicts (misses as ``[type, token, members_30d,
members_90d]`` rows in the later of the two), of rows with the token second (``[type, token,
members_30d, members_90d, *ten summary values]``), or the current rows unsealed. Each becomes the
current format: sealed, ``0x03``, zlib-compressed JSON of ``[type, members_30d, members_90d,
*ten summary values]`` rows, then the tokens, 32 bytes each. The readers and the writer are
copied here as they were, so that this migration means the same whatever the service becomes.
A result dict is stored as the row it would be built from today; a field an early answer did not
have reads as today's answer for that case (no statement, not disputed). Lookup rows are
append-only: their trigger is bypassed for this migration's own statements, as migration 0012 does.
"""

import zlib

import orjson
import pgtrigger
from django.db import migrations

from sharing.tokens.sealing import SEALED_ANSWER, answer_context, answer_seal, unseal

CHUNK = 500
PACKED = b"\x03"


def _row_of_result(result: dict) -> list:
    """The row a result dict is built from (the inverse of the service's ``_result``)."""
    inquiries = result.get("inquiries") or {}
    row = [result["type"], inquiries.get("members_30d", 0), inquiries.get("members_90d", 0)]
    if not result.get("hit"):
        return row
    blacklist = result.get("blacklist") or {}
    delinquency = result.get("delinquency") or {}
    return [
        *row,
        result.get("reporting_members", 0),
        result.get("reported_by_you", False),
        blacklist.get("categories", []),
        blacklist.get("last_reported"),
        delinquency.get("active_records", 0),
        delinquency.get("max_overdue_days", 0),
        delinquency.get("total_overdue_amount", "0.00"),
        delinquency.get("latest_event_date"),
        result.get("disputed", False),
        result.get("statement", False),
    ]


def packed_current(packed: bytes) -> bytes | None:
    """The current packed form of an answer packed in any earlier format; None if it already is current."""
    if packed[:1] == PACKED:
        return None
    rows, tokens = [], []
    for item in orjson.loads(zlib.decompress(packed)):
        if isinstance(item, dict):
            rows.append(_row_of_result(item))
            tokens.append(item["token"])
        else:  # [type, token, members_30d, members_90d, *summary]
            rows.append([item[0], *item[2:]])
            tokens.append(item[1])
    return PACKED + zlib.compress(orjson.dumps(rows), 1) + bytes.fromhex("".join(tokens))


def answers_to_one_format(apps, schema_editor):
    lookup_model = apps.get_model("sharing", "Lookup")
    last = 0
    with pgtrigger.ignore("sharing.Lookup:append_only"):
        while True:
            chunk = list(lookup_model.objects.filter(pk__gt=last).order_by("pk").values_list("pk", "answer")[:CHUNK])
            if not chunk:
                return
            for pk, stored in chunk:
                stored = bytes(stored)
                sealed = stored[:1] == SEALED_ANSWER
                packed = unseal(stored[1:], context=answer_context(pk)) if sealed else stored
                current = packed_current(packed)
                if current is not None or not sealed:
                    lookup_model.objects.filter(pk=pk).update(answer=answer_seal(current or packed, lookup_id=pk))
            last = chunk[-1][0]


class Migration(migrations.Migration):
    dependencies = [
        ("sharing", "0012_seal_stored_tokens"),
    ]

    operations = [
        migrations.RunPython(answers_to_one_format, migrations.RunPython.noop, elidable=True),
    ]
