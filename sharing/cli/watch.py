"""``riskshare watch add|remove``: a member's borrowers registered for post-loan monitoring."""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sharing.cli.common import (
    MAX_BATCH,
    TOKEN_COLUMN_PREFIX,
    CliError,
    ProgressReader,
    api_client,
    input_file,
)
from sharing.cli.resumable import SendState, send_resumable, state_path


def _watches(reader_file: ProgressReader, args: argparse.Namespace) -> Iterator[tuple[int | None, dict[str, Any]]]:
    reader = csv.DictReader(reader_file.text, delimiter=args.delimiter)
    for row in reader:
        reader_file.tick()
        identifiers = [
            {"type": column[len(TOKEN_COLUMN_PREFIX) :], "token": value}
            for column, value in row.items()
            if column and column.startswith(TOKEN_COLUMN_PREFIX) and value
        ]
        version = row.get("key_version")
        yield (
            int(version) if version and version.isdigit() else None,
            {
                "reference": row.get(args.reference_column) or "",
                "identifiers": identifiers,
                "expires_on": row.get(args.expiry_column) or "",
            },
        )


def watch_add(args: argparse.Namespace) -> int:
    source = input_file(args.input)
    if not 1 <= args.batch_size <= MAX_BATCH:
        raise CliError(f"--batch-size must be between 1 and {MAX_BATCH}")
    client = api_client(args)
    state = SendState(state_path(source, args.state), source)
    rejects_path = Path(args.rejects or f"{source}.rejects.csv")
    reader_file = ProgressReader(source, args.encoding, "watch add")
    versions: set[int] = set()

    def rows() -> Iterator[dict[str, Any]]:
        for version, watch in _watches(reader_file, args):
            versions.add(version or args.key_version or 0)
            yield watch

    def body(watches: list[dict[str, Any]]) -> dict[str, Any]:
        if len(versions) != 1 or 0 in versions:
            raise CliError("give one key version: a key_version column with one value, or --key-version")
        return {"key_version": next(iter(versions)), "consent_reference": args.consent_reference, "watches": watches}

    try:
        sent = send_resumable(
            client=client,
            path="/api/v1/watches",
            rows=rows(),
            batch_size=args.batch_size,
            body=body,
            key_prefix="rs-cli-watch-",
            state=state,
            rejects_path=rejects_path,
            rejects_header=["row", "reference", "field", "code", "message"],
            state_entry=lambda answer: {"accepted": answer.get("accepted")},
        )
    finally:
        reader_file.close()
        client.close()
    print(
        f"riskshare: sent {sent.requests} request(s) ({sent.skipped} already done): "
        f"{sent.accepted} accepted, {sent.rejected} rejected (see {rejects_path})",
        file=sys.stderr,
    )
    return 0


def watch_remove(args: argparse.Namespace) -> int:
    client = api_client(args)
    missing = 0
    try:
        for reference in args.references:
            # A 404 is a watch that is not there (any more): a re-run after a crash goes past it.
            if client.delete(f"/api/v1/watches/{quote(reference, safe='')}") is None:
                print(f"riskshare: no watch {reference}", file=sys.stderr)
                missing += 1
    finally:
        client.close()
    print(f"riskshare: removed {len(args.references) - missing} watch(es)", file=sys.stderr)
    return 1 if missing else 0
