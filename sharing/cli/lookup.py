"""``riskshare lookup``: tokenized applicants in, one result row per identifier out."""

from __future__ import annotations

import argparse
import csv
import sys
from typing import Any

from sharing.cli.common import (
    MAX_BATCH,
    TOKEN_COLUMN_PREFIX,
    CliError,
    ProgressReader,
    api_client,
    canonical_json,
    input_file,
)

RESULT_COLUMNS = [
    "row",
    "type",
    "token",
    "hit",
    "reporting_members",
    "reported_by_you",
    "blacklist_active",
    "blacklist_categories",
    "blacklist_last_reported",
    "delinquency_active_records",
    "delinquency_max_overdue_days",
    "delinquency_total_overdue_amount",
    "delinquency_latest_event_date",
    "inquiries_members_30d",
    "inquiries_members_90d",
    "disputed",
    "lookup_id",
]


def _flatten_result(row_number: int, result: dict[str, Any], lookup_id: Any) -> list[Any]:
    blacklist = result.get("blacklist") or {}
    delinquency = result.get("delinquency") or {}
    inquiries = result.get("inquiries") or {}
    return [
        row_number,
        result.get("type"),
        result.get("token"),
        result.get("hit"),
        result.get("reporting_members"),
        result.get("reported_by_you"),
        blacklist.get("active"),
        ";".join(blacklist.get("categories") or []),
        blacklist.get("last_reported") or "",
        delinquency.get("active_records"),
        delinquency.get("max_overdue_days"),
        delinquency.get("total_overdue_amount"),
        delinquency.get("latest_event_date") or "",
        inquiries.get("members_30d"),
        inquiries.get("members_90d"),
        result.get("disputed"),
        lookup_id,
    ]


def lookup(args: argparse.Namespace) -> int:
    source = input_file(args.input)
    client = api_client(args)
    reader_file = ProgressReader(source, args.encoding, "lookup")
    looked_up = hits = 0
    try:
        reader = csv.DictReader(reader_file.text, delimiter=args.delimiter)
        fields = reader.fieldnames or []
        token_columns = [name for name in fields if name.startswith(TOKEN_COLUMN_PREFIX)]
        if not token_columns:
            raise CliError(f"{source} has no token:<type> columns (run riskshare tokenize first)")
        if args.consent_column and args.consent_column not in fields:
            raise CliError(f"consent column {args.consent_column!r} is not in the header")
        if "key_version" not in fields and args.key_version is None:
            raise CliError("no key_version column; pass --key-version")
        with open(args.output, "w", encoding="utf-8", newline="") as out_file:
            writer = csv.writer(out_file, lineterminator="\n")
            writer.writerow(RESULT_COLUMNS)
            pending: list[tuple[int, dict[str, str]]] = []
            group: tuple[str, int] | None = None

            def flush() -> None:
                nonlocal looked_up, hits
                if not pending:
                    return
                consent, version = group
                body: dict[str, Any] = {
                    "purpose": args.purpose,
                    "key_version": version,
                    "identifiers": [identifier for _, identifier in pending],
                }
                if consent:
                    body["consent_reference"] = consent
                answer = client.post("/api/v1/lookups", canonical_json(body))
                for (row_number, _), result in zip(pending, answer.get("results", []), strict=False):
                    writer.writerow(_flatten_result(row_number, result, answer.get("id")))
                    looked_up += 1
                    hits += bool(result.get("hit"))
                pending.clear()

            for row_number, row in enumerate(reader, start=1):
                reader_file.tick()
                consent = (
                    (row.get(args.consent_column) or "") if args.consent_column else (args.consent_reference or "")
                )
                version = int(row.get("key_version") or args.key_version)
                identifiers = [
                    {"type": column[len(TOKEN_COLUMN_PREFIX) :], "token": row[column]}
                    for column in token_columns
                    if row.get(column)
                ]
                # One request carries one consent reference and one key version.
                if group != (consent, version) or len(pending) + len(identifiers) > MAX_BATCH:
                    flush()
                    group = (consent, version)
                pending.extend((row_number, identifier) for identifier in identifiers)
            flush()
    finally:
        reader_file.close()
        client.close()
    print(f"riskshare: looked up {looked_up} identifier(s), {hits} hit(s); results in {args.output}", file=sys.stderr)
    return 0


# --- entry point ----------------------------------------------------------------
