"""``riskshare watch add|remove``: a member's borrowers registered for post-loan monitoring."""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sharing.cli.common import (
    MAX_BATCH,
    TOKEN_COLUMN_PREFIX,
    Client,
    CliError,
    ProgressReader,
    api_client,
    canonical_json,
    describe,
    input_file,
)
from sharing.cli.submit import _batches, _State


def request(client: Client, method: str, path: str, **kwargs) -> Any:
    """Any method, with the client's retries on connection errors, 5xx and 429; None for a 204 or a 404."""
    attempt = 0
    while True:
        attempt += 1
        try:
            response = client.http.request(method, path, **kwargs)
        except client._httpx.TransportError as exc:
            if attempt > client.max_retries:
                raise CliError(f"{path}: cannot reach the server ({type(exc).__name__})") from None
            client._sleep(attempt, None)
            continue
        if response.status_code in (204, 404):
            return None
        if response.status_code < 300:
            return response.json()
        if response.status_code == 429 or response.status_code >= 500:
            if attempt > client.max_retries:
                raise CliError(f"{path}: {describe(response)} (gave up after {attempt} attempts)")
            client._sleep(attempt, response.headers.get("Retry-After"))
            continue
        raise CliError(f"{path}: {describe(response)}")


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
    state = _State(Path(args.state or f"{source}.state.json"), source)
    rejects_path = Path(args.rejects or f"{source}.rejects.csv")
    reader_file = ProgressReader(source, args.encoding, "watch add")
    totals = {"requests": 0, "skipped": 0, "accepted": 0, "rejected": 0}
    versions: set[int] = set()

    def rows() -> Iterator[dict[str, Any]]:
        for version, watch in _watches(reader_file, args):
            versions.add(version or args.key_version or 0)
            yield watch

    try:
        new_rejects = not rejects_path.exists()
        with open(rejects_path, "a", encoding="utf-8", newline="") as rejects_file:
            rejects = csv.writer(rejects_file, lineterminator="\n")
            if new_rejects:
                rejects.writerow(["row", "reference", "field", "code", "message"])
            offset = 0
            for index, batch in enumerate(_batches(rows(), args.batch_size)):
                if len(versions) != 1 or 0 in versions:
                    raise CliError("give one key version: a key_version column with one value, or --key-version")
                body = canonical_json(
                    {"key_version": next(iter(versions)), "consent_reference": args.consent_reference, "watches": batch}
                )
                # Deterministic per request content: a re-run after a crash is answered, never applied twice.
                idempotency_key = "rs-cli-watch-" + hashlib.sha256(body).hexdigest()[:48]
                done = state.done.get(str(index))
                if done and done.get("idempotency_key") == idempotency_key:
                    totals["skipped"] += 1
                    offset += len(batch)
                    continue
                answer = client.post("/api/v1/watches", body, {"Idempotency-Key": idempotency_key})
                for error in answer.get("errors", []):
                    position = error.get("index", 0)
                    reference = batch[position].get("reference", "") if 0 <= position < len(batch) else ""
                    rejects.writerow(
                        [offset + position + 1, reference, error.get("field"), error.get("code"), error.get("message")]
                    )
                rejects_file.flush()
                state.mark(index, {"idempotency_key": idempotency_key, "accepted": answer.get("accepted")})
                totals["requests"] += 1
                totals["accepted"] += answer.get("accepted", 0)
                totals["rejected"] += answer.get("rejected", 0)
                offset += len(batch)
    finally:
        reader_file.close()
        client.close()
    print(
        f"riskshare: sent {totals['requests']} request(s) ({totals['skipped']} already done): "
        f"{totals['accepted']} accepted, {totals['rejected']} rejected (see {rejects_path})",
        file=sys.stderr,
    )
    return 0


def watch_remove(args: argparse.Namespace) -> int:
    client = api_client(args)
    missing = 0
    try:
        for reference in args.references:
            if request(client, "GET", f"/api/v1/watches/{reference}") is None:
                print(f"riskshare: no watch {reference}", file=sys.stderr)
                missing += 1
                continue
            request(client, "DELETE", f"/api/v1/watches/{reference}")
    finally:
        client.close()
    print(f"riskshare: removed {len(args.references) - missing} watch(es)", file=sys.stderr)
    return 1 if missing else 0
