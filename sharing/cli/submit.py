"""``riskshare submit``: tokenized records to the platform in resumable batches (sharing.cli.resumable)."""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sharing.cli.common import (
    INTEGER_COLUMNS,
    MAX_BATCH,
    RECORD_COLUMNS,
    TOKEN_COLUMN_PREFIX,
    CliError,
    ProgressReader,
    api_client,
    input_file,
    rejects_path_for,
)
from sharing.cli.resumable import SendState, send_resumable, state_path


def _csv_records(reader_file: ProgressReader, delimiter: str) -> Iterator[dict[str, Any]]:
    reader = csv.DictReader(reader_file.text, delimiter=delimiter)
    unused = [
        name
        for name in reader.fieldnames or []
        if name not in RECORD_COLUMNS and not name.startswith(TOKEN_COLUMN_PREFIX)
    ]
    if unused:
        # A raw identifier column nobody tokenized would otherwise vanish without a word.
        print(
            f"riskshare: warning: column(s) not sent: {', '.join(unused)} (submit sends "
            f"{', '.join(RECORD_COLUMNS)} and token:<type> columns; tokenize raw identifiers first)",
            file=sys.stderr,
        )
    for row in reader:
        reader_file.tick()
        record: dict[str, Any] = {}
        identifiers = []
        for column, value in row.items():
            if column is None or value is None or value == "":
                continue
            if column.startswith(TOKEN_COLUMN_PREFIX):
                identifiers.append({"type": column[len(TOKEN_COLUMN_PREFIX) :], "token": value})
            elif column in RECORD_COLUMNS:
                record[column] = int(value) if column in INTEGER_COLUMNS and value.isdigit() else value
        record["identifiers"] = identifiers
        yield record


def _jsonl_records(reader_file: ProgressReader) -> Iterator[dict[str, Any]]:
    for line_number, line in enumerate(reader_file.text, start=1):
        reader_file.tick()
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            raise CliError(f"line {line_number}: not valid JSON") from None


def _wait_for_matching(client, batch_ids: list[int], timeout: float) -> None:
    """Poll GET /api/v1/batches/{id} until every batch sent in this run is matched (done) or failed."""
    deadline = time.monotonic() + timeout
    pending = list(batch_ids)
    delay = 0.5
    while pending:
        states = {batch_id: client.get(f"/api/v1/batches/{batch_id}")["status"] for batch_id in pending}
        failed = [batch_id for batch_id, state in states.items() if state == "failed"]
        if failed:
            raise CliError(f"batch(es) {', '.join(map(str, failed))} failed on the server; ask the operator")
        pending = [batch_id for batch_id, state in states.items() if state != "done"]
        if not pending:
            break
        if time.monotonic() > deadline:
            raise CliError(f"matching not finished after {timeout:.0f} s for batch(es) {', '.join(map(str, pending))}")
        time.sleep(delay)
        delay = min(delay * 2, 10.0)
    if batch_ids:
        print(f"riskshare: matching finished for {len(batch_ids)} batch(es)", file=sys.stderr)


def submit(args: argparse.Namespace) -> int:
    source = input_file(args.input)
    if not 1 <= args.batch_size <= MAX_BATCH:
        raise CliError(f"--batch-size must be between 1 and {MAX_BATCH}")
    client = api_client(args)
    state = SendState(state_path(source, args.state), source)
    rejects_path = Path(args.rejects) if args.rejects else rejects_path_for(source)
    reader_file = ProgressReader(source, args.encoding, "submit", follow_reading=False)
    complete = False
    try:
        is_jsonl = source.suffix.lower() in {".jsonl", ".ndjson"}
        records = _jsonl_records(reader_file) if is_jsonl else _csv_records(reader_file, args.delimiter)
        sent = send_resumable(
            client=client,
            path="/api/v1/batches",
            rows=records,
            batch_size=args.batch_size,
            body=lambda batch: {"records": batch},
            key_prefix="rs-cli-",
            state=state,
            rejects_path=rejects_path,
            rejects_header=["record", "reference", "field", "code", "message"],
            state_entry=lambda answer: {
                "batch_id": answer.get("id"),
                "accepted": answer.get("accepted"),
                "rejected": answer.get("rejected"),
            },
            after_each=lambda: reader_file.acknowledged(reader_file.raw.tell()),
        )
        batch_ids = [answer["id"] for answer in sent.answers if answer.get("id") is not None]
        complete = True
        if args.wait:
            _wait_for_matching(client, batch_ids, args.wait_timeout)
    finally:
        reader_file.close(complete=complete)
        client.close()
    print(
        f"riskshare: sent {sent.requests} batch(es) ({sent.skipped} already done): "
        f"{sent.accepted} accepted, {sent.rejected} rejected (see {rejects_path})",
        file=sys.stderr,
    )
    return 0


# --- lookup ---------------------------------------------------------------------
