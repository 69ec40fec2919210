"""``riskshare lookup``: tokenized applicants in, one result row per identifier out."""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
from collections import defaultdict
from pathlib import Path
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
    "delinquency_under_relief",
    "exposure_lenders",
    "exposure_open_loans",
    "exposure_total_credit_limit",
    "exposure_total_outstanding",
    "exposure_latest_opened",
    "exposure_stale_loans",
    "exposure_yours_open_loans",
    "exposure_yours_total_outstanding",
    "exposure_relief_lenders",
    "exposure_relief_since",
    "exposure_relief_kinds",
    "exposure_relief_yours",
    "inquiries_members_30d",
    "inquiries_members_90d",
    "disputed",
    "statement",
    "identity_at_risk",
    "identity_at_risk_since",
    "lookup_id",
]


def _cell(value: Any) -> Any:
    # CSV has no booleans: the API's own spelling, never Python's True/False.
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else value


def _flatten_result(row_number: int, key: str | None, result: dict[str, Any], lookup_id: Any) -> list[Any]:
    blacklist = result.get("blacklist") or {}
    delinquency = result.get("delinquency") or {}
    inquiries = result.get("inquiries") or {}
    # No open loans anywhere: empty exposure cells, not zeros (the answer says null).
    exposure = result.get("exposure") or {}
    yours = exposure.get("yours") or {}
    relief = exposure.get("relief") or {}
    cells = [
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
        delinquency.get("under_relief"),
        exposure.get("lenders"),
        exposure.get("open_loans"),
        exposure.get("total_credit_limit"),
        exposure.get("total_outstanding"),
        exposure.get("latest_opened"),
        exposure.get("stale_loans"),
        yours.get("open_loans"),
        yours.get("total_outstanding"),
        relief.get("lenders"),
        relief.get("since"),
        ";".join(relief.get("kinds") or []) if relief else None,
        relief.get("yours"),
        inquiries.get("members_30d"),
        inquiries.get("members_90d"),
        result.get("disputed"),
        result.get("statement"),
        result.get("identity_at_risk") is not None,
        (result.get("identity_at_risk") or {}).get("since"),
        lookup_id,
    ]
    if key is not None:
        cells.insert(1, key)
    return [_cell(cell) for cell in cells]


# Groups waiting for rows that share their consent reference; past this many the oldest is sent, so
# memory stays bounded when every applicant has a reference of their own.
OPEN_GROUPS = 1_000


class _Resume:
    """Requests already answered for this output, so that a re-run after Ctrl-C or a network failure
    sends only the rest: a lookup is logged and counted against the quota, and asking twice about the
    same applicants would count them twice in other lenders' multi-lending figures.

    Answered rows accumulate in a partial file beside the output, renamed to it once the run is complete.
    """

    def __init__(self, output: Path, state_path: Path, run: dict[str, Any], header: list[str]):
        self.output, self.path, self.run = output, state_path, run
        self.partial = output.with_name(f".{output.name}.partial")
        self.done: set[str] = set()
        if self.path.exists() and self.partial.exists():
            document = json.loads(self.path.read_text(encoding="utf-8"))
            if document.get("run") != run:
                raise CliError(
                    f"state file {self.path} belongs to another input or other options; delete it to start over"
                )
            self.done = set(document.get("done", []))
        else:
            with open(self.partial, "w", encoding="utf-8", newline="") as handle:
                csv.writer(handle, lineterminator="\n").writerow(header)
        self.resumed = len(self.done)
        self.file = open(self.partial, "a", encoding="utf-8", newline="")  # noqa: SIM115 - closed in finish()
        self.writer = csv.writer(self.file, lineterminator="\n")

    def mark(self, digest: str) -> None:
        self.file.flush()
        self.done.add(digest)
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(json.dumps({"run": self.run, "done": sorted(self.done)}), encoding="utf-8")
        temporary.replace(self.path)

    def finish(self, *, complete: bool) -> None:
        self.file.close()
        if complete:
            self.partial.replace(self.output)
            self.path.unlink(missing_ok=True)
        elif not self.done:  # nothing answered: nothing to resume
            self.partial.unlink(missing_ok=True)
            self.path.unlink(missing_ok=True)


def lookup(args: argparse.Namespace) -> int:
    source = input_file(args.input)
    output = Path(args.output)
    client = api_client(args)
    reader_file = ProgressReader(source, args.encoding, "lookup")
    looked_up = hits = 0
    complete = False
    resume: _Resume | None = None
    try:
        reader = csv.DictReader(reader_file.text, delimiter=args.delimiter)
        fields = reader.fieldnames or []
        token_columns = [name for name in fields if name.startswith(TOKEN_COLUMN_PREFIX)]
        if not token_columns:
            raise CliError(f"{source} has no token:<type> columns (run riskshare tokenize first)")
        for option, column in (("consent", args.consent_column), ("key", args.key_column)):
            if column and column not in fields:
                raise CliError(f"{option} column {column!r} is not in the header")
        if "key_version" not in fields and args.key_version is None:
            raise CliError("no key_version column; pass --key-version")
        header = list(RESULT_COLUMNS)
        if args.key_column:
            header.insert(1, args.key_column)
        stat = source.stat()
        run = {
            "source": str(source.resolve()),
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "purpose": args.purpose,
            "header": header,
        }
        resume = _Resume(output, Path(args.state or f"{output}.state.json"), run, header)
        # One request carries one consent reference and one key version: rows are grouped by both,
        # wherever they stand in the file, and a group is sent when it fills a request.
        groups: dict[tuple[str, int], list[tuple[int, str | None, dict[str, str]]]] = defaultdict(list)

        def flush(group: tuple[str, int]) -> None:
            nonlocal looked_up, hits
            pending = groups.pop(group, [])
            if not pending:
                return
            consent, version = group
            body: dict[str, Any] = {
                "purpose": args.purpose,
                "key_version": version,
                "identifiers": [identifier for _, _, identifier in pending],
            }
            if consent:
                body["consent_reference"] = consent
            encoded = canonical_json(body)
            digest = hashlib.sha256(encoded).hexdigest()[:32]
            if digest in resume.done:
                return
            answer = client.post("/api/v1/lookups", encoded)
            for (row_number, key, _), result in zip(pending, answer.get("results", []), strict=False):
                resume.writer.writerow(_flatten_result(row_number, key, result, answer.get("id")))
                looked_up += 1
                hits += bool(result.get("hit"))
            resume.mark(digest)

        for row_number, row in enumerate(reader, start=1):
            reader_file.tick()
            consent = (row.get(args.consent_column) or "") if args.consent_column else (args.consent_reference or "")
            version = int(row.get("key_version") or args.key_version)
            key = row.get(args.key_column) or "" if args.key_column else None
            identifiers = [
                {"type": column[len(TOKEN_COLUMN_PREFIX) :], "token": row[column]}
                for column in token_columns
                if row.get(column)
            ]
            group = (consent, version)
            if len(groups[group]) + len(identifiers) > MAX_BATCH:
                flush(group)
            groups[group].extend((row_number, key, identifier) for identifier in identifiers)
            if len(groups) > OPEN_GROUPS:
                flush(next(iter(groups)))
        for group in list(groups):
            flush(group)
        complete = True
    finally:
        if resume is not None:
            resume.finish(complete=complete)
            if not complete and resume.done:
                print(
                    f"riskshare: {len(resume.done)} lookup request(s) answered so far are kept; "
                    "run the same command again to send only the rest",
                    file=sys.stderr,
                )
        reader_file.close(complete=complete)
        client.close()
    already = f" ({resume.resumed} request(s) answered by an earlier run)" if resume and resume.resumed else ""
    print(
        f"riskshare: looked up {looked_up} identifier(s), {hits} hit(s){already}; results in {args.output}",
        file=sys.stderr,
    )
    return 0
