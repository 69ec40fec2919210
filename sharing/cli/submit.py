"""``riskshare submit``: tokenized records to the platform in resumable batches."""

from __future__ import annotations

import argparse
import csv
import hashlib
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
    canonical_json,
    input_file,
    rejects_path_for,
)


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


def _batches(records: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for record in records:
        batch.append(record)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class _State:
    """Which batches of an input file are done, so a re-run resumes where it stopped."""

    def __init__(self, path: Path, source: Path):
        self.path = path
        self.source = str(source.resolve())
        self.done: dict[str, dict[str, Any]] = {}
        if path.exists():
            document = json.loads(path.read_text(encoding="utf-8"))
            if document.get("source") != self.source:
                raise CliError(f"state file {path} belongs to {document.get('source')}; pass another --state")
            self.done = document.get("done", {})

    def mark(self, index: int, entry: dict[str, Any]) -> None:
        self.done[str(index)] = entry
        temporary = self.path.with_suffix(self.path.suffix + ".tmp")
        temporary.write_text(json.dumps({"source": self.source, "done": self.done}), encoding="utf-8")
        temporary.replace(self.path)


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
    state = _State(Path(args.state or f"{source}.state.json"), source)
    rejects_path = Path(args.rejects) if args.rejects else rejects_path_for(source)
    reader_file = ProgressReader(source, args.encoding, "submit", follow_reading=False)
    totals = {"batches": 0, "skipped": 0, "accepted": 0, "rejected": 0}
    batch_ids: list[int] = []
    complete = False
    try:
        is_jsonl = source.suffix.lower() in {".jsonl", ".ndjson"}
        records = _jsonl_records(reader_file) if is_jsonl else _csv_records(reader_file, args.delimiter)
        new_rejects = not rejects_path.exists()
        with open(rejects_path, "a", encoding="utf-8", newline="") as rejects_file:
            rejects = csv.writer(rejects_file, lineterminator="\n")
            if new_rejects:
                rejects.writerow(["record", "reference", "field", "code", "message"])
            offset = 0
            for index, batch in enumerate(_batches(records, args.batch_size)):
                body = canonical_json({"records": batch})
                # Deterministic per batch content: re-sending after a crash or a dropped
                # connection is answered from the server's idempotency record, never applied twice.
                idempotency_key = "rs-cli-" + hashlib.sha256(body).hexdigest()[:48]
                done = state.done.get(str(index))
                if done and done.get("idempotency_key") == idempotency_key:
                    totals["skipped"] += 1
                    offset += len(batch)
                    reader_file.acknowledged(reader_file.raw.tell())
                    continue
                answer = client.post("/api/v1/batches", body, {"Idempotency-Key": idempotency_key})
                for error in answer.get("errors", []):
                    position = error.get("index", 0)
                    reference = batch[position].get("reference", "") if 0 <= position < len(batch) else ""
                    rejects.writerow(
                        [offset + position + 1, reference, error.get("field"), error.get("code"), error.get("message")]
                    )
                rejects_file.flush()
                state.mark(
                    index,
                    {
                        "idempotency_key": idempotency_key,
                        "batch_id": answer.get("id"),
                        "accepted": answer.get("accepted"),
                        "rejected": answer.get("rejected"),
                    },
                )
                totals["batches"] += 1
                totals["accepted"] += answer.get("accepted", 0)
                totals["rejected"] += answer.get("rejected", 0)
                offset += len(batch)
                reader_file.acknowledged(reader_file.raw.tell())
                if answer.get("id") is not None:
                    batch_ids.append(answer["id"])
        complete = True
        if args.wait:
            _wait_for_matching(client, batch_ids, args.wait_timeout)
    finally:
        reader_file.close(complete=complete)
        client.close()
    print(
        f"riskshare: sent {totals['batches']} batch(es) ({totals['skipped']} already done): "
        f"{totals['accepted']} accepted, {totals['rejected']} rejected (see {rejects_path})",
        file=sys.stderr,
    )
    return 0


# --- lookup ---------------------------------------------------------------------
