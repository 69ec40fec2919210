"""``riskshare log verify``: check the platform's log from a member's machine, without trusting the platform.

Pins the log's verifier key, fetches the signed checkpoint and checks its signature; checks that it
is consistent with the last checkpoint this member saw (kept in a state file), so that a rewritten
or forked history is caught; and checks that every leaf of the member's batches whose receipts it
keeps is still in the log, recomputing each leaf from the records it sent when given them.
No Django: only sharing.tlog's pure modules.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import sys
from pathlib import Path
from typing import Any

from sharing.cli.common import CliError, ProgressReader, api_client, atomic_output, describe, http_options, input_file
from sharing.cli.resumable import state_document, state_path
from sharing.tlog import leaf, merkle, note

STATE_VERSION = 1


def register(commands, formatter: type[argparse.HelpFormatter]) -> None:
    log = commands.add_parser(
        "log",
        allow_abbrev=False,
        formatter_class=formatter,
        help="verify the platform's transparency log of record changes",
        description="The platform's append-only log of every record change (docs/transparency-log.md).",
    )
    actions = log.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = actions.add_parser(
        "verify",
        allow_abbrev=False,
        formatter_class=formatter,
        help="check the signed checkpoint, its consistency with the last one seen, and your receipts",
        description=(
            "Fetch the log's signed checkpoint and check its signature with the pinned verifier key; check it is "
            "consistent with the checkpoint stored in the state file (a rewritten or forked history fails); fetch "
            "the receipts of your batches and keep them in the state file: the --batch ids given, every batch a "
            "`riskshare submit` state file names (--submitted; with --records, that file's own state file "
            "<records>.state.json is read when it exists); check every kept leaf's inclusion under the new "
            "checkpoint and, with --records, recompute each leaf from the records you sent. Prints each mismatch "
            "and exits 1 on any; the state file advances only when everything checks. Run it daily. API key from "
            "RISKSHARE_API_KEY."
        ),
    )
    verify.add_argument(
        "--key",
        default=os.environ.get("RISKSHARE_LOG_KEY") or None,
        help="the log's verifier key <name>+<id>+<key>, as published by the platform (default: $RISKSHARE_LOG_KEY)",
    )
    verify.add_argument("--state", required=True, help="state file: the last checkpoint seen and the receipts kept")
    verify.add_argument("--batch", type=int, action="append", default=[], help="a batch id whose receipt to keep")
    verify.add_argument(
        "--submitted",
        action="append",
        default=[],
        metavar="STATE",
        help="a state file `riskshare submit` wrote (<input>.state.json): keep the receipts of every batch it sent",
    )
    verify.add_argument("--records", help="the records file you submitted (.csv or .jsonl), to recompute leaves")
    verify.add_argument("--encoding", default="utf-8-sig", help="encoding of --records")
    verify.add_argument("--delimiter", default=",", help="CSV delimiter of --records")
    http_options(verify)
    verify.set_defaults(handler=log_verify)


def _unb64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, TypeError) as exc:
        raise CliError(f"{what} is not base64") from exc


def _get_text(client, path: str) -> str:
    response = client.http.get(path)
    if response.status_code != 200:
        raise CliError(f"{client.url}{path}: {describe(response)}")
    return response.text


def _state_read(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"version": STATE_VERSION, "key": None, "checkpoint": None, "receipts": {}, "pending": []}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read the state file {path}: {exc}") from exc
    if state.get("version") != STATE_VERSION:
        raise CliError(f"{path} is not a `riskshare log verify` state file")
    return state


def _records_sent(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    if not args.records:
        return {}
    from sharing.cli.submit import _csv_records, _jsonl_records

    source = input_file(args.records)
    reader = ProgressReader(source, args.encoding, "records", follow_reading=False)
    try:
        rows = (
            _jsonl_records(reader) if source.suffix in (".jsonl", ".ndjson") else _csv_records(reader, args.delimiter)
        )
        return {str(record.get("reference")): record for record in rows}
    finally:
        reader.close(complete=True)


def _batches_submitted(args: argparse.Namespace) -> set[str]:
    """The batch ids that ``riskshare submit`` state files name: --submitted, and --records' own when it exists."""
    paths = [Path(p) for p in args.submitted]
    if args.records and state_path(Path(args.records)).exists():
        paths.append(state_path(Path(args.records)))
    batches: set[str] = set()
    for path in paths:
        done = state_document(path).get("done", {}).values()
        found = {str(entry["batch_id"]) for entry in done if isinstance(entry, dict) and entry.get("batch_id")}
        print(f"riskshare: {len(found)} batch(es) from {path}", file=sys.stderr)
        batches |= found
    return batches


def leaf_recompute(entry: dict[str, Any], record: dict[str, Any]) -> bytes:
    """The leaf hash of a receipt entry, from the record as sent (docs/transparency-log.md)."""
    salt = _unb64(entry["salt"], "a receipt's salt")
    fields = dict(record)
    fields["identifiers"] = [(i["type"], i["token"]) for i in record.get("identifiers", [])]
    encoded = leaf.leaf_encode(
        seq=entry["index"],
        kind=entry["kind"],
        member=entry["member"],
        reference_digest=leaf.salted(salt, entry["reference"].encode()),
        record_digest=leaf.salted(salt, leaf.record_change(fields)),
        time=entry["time"],
    )
    return merkle.leaf_hash(encoded)


def _consistent(client, old: note.Checkpoint, new: note.Checkpoint) -> bool:
    if old.size > new.size:
        return False
    if old.size == new.size:
        return old.root == new.root
    answer = client.get("/api/v1/log/proof/consistency", {"first": old.size, "second": new.size})
    proof = [_unb64(value, "a proof hash") for value in answer.get("proof", [])]
    return merkle.verify_consistency(old.size, new.size, old.root, new.root, proof)


def log_verify(args: argparse.Namespace) -> int:
    if not args.key:
        raise CliError("pin the log's verifier key with --key or RISKSHARE_LOG_KEY")
    try:
        verifier = note.verifier_parse(args.key)
    except note.NoteError as exc:
        raise CliError(f"--key: {exc}") from exc
    path = Path(args.state)
    state = _state_read(path)
    if state["key"] not in (None, args.key):
        raise CliError(f"{path} was kept under another log key; the key changed, or this is another log")
    sent = _records_sent(args)
    client = api_client(args)
    problems: list[str] = []
    try:
        signed_note = _get_text(client, "/api/v1/log/checkpoint")
        try:
            current = note.checkpoint_open(signed_note, verifier, origin=verifier.name)
        except note.NoteError as exc:
            raise CliError(f"the checkpoint does not verify: {exc}") from exc
        if state["checkpoint"]:
            seen = note.checkpoint_parse(state["checkpoint"]["text"])
            if not _consistent(client, seen, current):
                problems.append(
                    f"the log at {current.size} is not consistent with the checkpoint at {seen.size} seen before: "
                    "its history was rewritten or forked"
                )
        receipts: dict[str, Any] = state["receipts"]
        asked = {str(b) for b in args.batch} | _batches_submitted(args)
        pending = sorted(set(state.get("pending", [])) | asked - set(receipts))
        still_pending = []
        for batch_id in pending:
            response = client.http.get(f"/api/v1/batches/{batch_id}/receipt")
            if response.status_code == 409:
                still_pending.append(batch_id)
                continue
            if response.status_code != 200:
                problems.append(f"batch {batch_id}: no receipt ({describe(response)})")
                continue
            receipt = response.json()
            try:
                signed = note.checkpoint_open(receipt["checkpoint"], verifier, origin=verifier.name)
            except note.NoteError as exc:
                problems.append(f"batch {batch_id}: the receipt's checkpoint does not verify: {exc}")
                continue
            if not _consistent(client, signed, current):
                problems.append(f"batch {batch_id}: the receipt's checkpoint at {signed.size} is not in this log")
                continue
            receipts[batch_id] = receipt
        checked = 0
        for batch_id, receipt in sorted(receipts.items()):
            for entry in receipt["leaves"]:
                name = f"batch {batch_id}, leaf {entry['index']} ({entry.get('reference')})"
                leaf_hash = _unb64(entry["leaf_hash"], "a leaf hash")
                record = sent.get(str(entry.get("reference")))
                if record is not None and entry.get("salt") and leaf_recompute(entry, record) != leaf_hash:
                    problems.append(f"{name}: the record you sent does not give this leaf")
                answer = client.get("/api/v1/log/proof/inclusion", {"index": entry["index"], "tree_size": current.size})
                proof = [_unb64(value, "a proof hash") for value in answer.get("proof", [])]
                if not merkle.verify_inclusion(entry["index"], current.size, leaf_hash, proof, current.root):
                    problems.append(f"{name}: not included in the log at {current.size}")
                checked += 1
    finally:
        client.close()
    for problem in problems:
        print(f"riskshare: MISMATCH: {problem}")
    if problems:
        return 1
    state.update(
        key=args.key,
        # The signed note itself: with the next one, evidence of a fork anyone can check.
        checkpoint={"size": current.size, "text": current.text(), "note": signed_note},
        receipts=receipts,
        pending=still_pending,
    )
    with atomic_output(path) as handle:
        handle.write(json.dumps(state, indent=1, sort_keys=True))
    waiting = f"; {len(still_pending)} receipt(s) not ready yet" if still_pending else ""
    print(f"log OK at tree size {current.size}: consistent with the last one seen, {checked} leaves included{waiting}")
    return 0
