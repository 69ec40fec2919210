"""``riskshare``: the member's command-line client.

Runs on a member's own machines; raw identifiers never leave them.

    riskshare tokenize IN.csv -o OUT.csv --key-file KEY.json --column id_number=cn_resident_id ...
    riskshare submit RECORDS.csv --url https://riskshare.example     (RISKSHARE_API_KEY in the environment)
    riskshare lookup TOKENS.csv --purpose credit_application --consent-column consent --url ... -o RESULTS.csv
    riskshare verify-report REPORT.zip (--public-key KEY.pem | --base-url https://riskshare.example)

Errors are one line on stderr and a non-zero exit code (2 for usage, 1 otherwise).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import io
import json
import os
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from sharing.identifiers import ID_TYPES, InvalidIdentifier, canonicalize, token_for_canonical
from sharing.keys import KeyFileError, key_file_read

TOKEN_COLUMN_PREFIX = "token:"  # noqa: S105 - a CSV column prefix, not a secret
MAX_BATCH = 10_000
PROGRESS_EVERY = 5_000
# Record fields of the submission API that come from plain CSV columns.
RECORD_COLUMNS = (
    "reference",
    "kind",
    "category",
    "key_version",
    "event_date",
    "overdue_days",
    "overdue_amount",
    "currency",
    "product",
    "resolved_date",
)
INTEGER_COLUMNS = {"key_version", "overdue_days"}


class CliError(Exception):
    """Reported as one line on stderr, exit status 1."""


def input_file(name: str) -> Path:
    source = Path(name)
    if not source.is_file():
        raise CliError(f"input file not found: {source}")
    return source


def _progress(total_bytes: int | None, description: str):
    from tqdm import tqdm

    # disable=None: silent when stderr is not a terminal (pipes, cron, CI logs).
    return tqdm(
        total=total_bytes,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=description,
        disable=None,
        file=sys.stderr,
        mininterval=0.5,
    )


class _ProgressReader:
    """Opens a text file and reports how far into it reading has got, for the progress bar and ETA."""

    def __init__(self, path: Path, encoding: str, description: str):
        self.raw = open(path, "rb")  # noqa: SIM115 - closed in close()
        self.text = io.TextIOWrapper(self.raw, encoding=encoding, newline="")
        self.bar = _progress(path.stat().st_size, description)
        self.rows = 0
        self.started = time.monotonic()

    def tick(self, rows: int = 1) -> None:
        self.rows += rows
        if self.rows % PROGRESS_EVERY < rows and not self.bar.disable:
            self.bar.n = self.raw.tell()
            elapsed = max(time.monotonic() - self.started, 1e-9)
            self.bar.set_postfix(rows=self.rows, rows_per_s=int(self.rows / elapsed), refresh=False)
            self.bar.refresh()

    def close(self) -> None:
        if not self.bar.disable:
            self.bar.n = self.bar.total or self.bar.n
            self.bar.refresh()
        self.bar.close()
        self.text.close()


def _load_key(path: str | None):
    path = path or os.environ.get("RISKSHARE_CONSORTIUM_KEY_FILE")
    if not path:
        raise CliError("no consortium key: pass --key-file or set RISKSHARE_CONSORTIUM_KEY_FILE")
    try:
        material = key_file_read(path)
    except KeyFileError as exc:
        raise CliError(str(exc)) from None
    if os.name == "posix" and Path(path).stat().st_mode & 0o077:
        print(f"riskshare: warning: key file {path} is readable by other users (chmod 600 it)", file=sys.stderr)
    return material


def _parse_mappings(pairs: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for pair in pairs:
        column, sep, id_type = pair.partition("=")
        if not sep or not column or not id_type:
            raise CliError(f"--column expects NAME=TYPE, got {pair!r}")
        if id_type not in ID_TYPES:
            raise CliError(f"unknown identifier type {id_type!r}; one of {', '.join(ID_TYPES)}")
        if column in mapping:
            raise CliError(f"column {column!r} is mapped twice")
        if id_type in mapping.values():
            raise CliError(f"type {id_type!r} is mapped twice; a record holds each type at most once")
        mapping[column] = id_type
    if not mapping:
        raise CliError("map at least one column with --column NAME=TYPE")
    return mapping


def rejects_path_for(output: Path) -> Path:
    return output.with_name(output.stem + ".rejects" + (output.suffix or ".csv"))


def tokenize(args: argparse.Namespace) -> int:
    material = _load_key(args.key_file)
    mapping = _parse_mappings(args.column)
    source, output = input_file(args.input), Path(args.output)
    if source.resolve() == output.resolve():
        raise CliError("the output file must differ from the input file")
    rejects_path = rejects_path_for(output)
    reader_file = _ProgressReader(source, args.encoding, "tokenize")
    written = rejected = 0
    try:
        reader = csv.reader(reader_file.text, delimiter=args.delimiter)
        header = next(reader, None)
        if header is None:
            raise CliError(f"{source} is empty")
        missing = [column for column in mapping if column not in header]
        if missing:
            raise CliError(f"column(s) not in the header: {', '.join(missing)}")
        positions = [(header.index(column), column, id_type) for column, id_type in mapping.items()]
        out_header = [TOKEN_COLUMN_PREFIX + mapping[name] if name in mapping else name for name in header]
        add_version = "key_version" not in header
        if add_version:
            out_header.append("key_version")
        version = str(material.version)
        key = material.key
        with (
            open(output, "w", encoding="utf-8", newline="") as out_file,
            open(rejects_path, "w", encoding="utf-8", newline="") as rejects_file,
        ):
            writer = csv.writer(out_file, delimiter=args.delimiter, lineterminator="\n")
            rejects = csv.writer(rejects_file, lineterminator="\n")
            writer.writerow(out_header)
            rejects.writerow(["row", "column", "reason"])
            width = len(header)
            for row_number, row in enumerate(reader, start=1):
                reader_file.tick()
                if len(row) != width:
                    rejects.writerow([row_number, "", "bad_row_width"])
                    rejected += 1
                    continue
                problems = []
                present = 0
                for index, column, id_type in positions:
                    raw = row[index]
                    if not raw.strip():
                        row[index] = ""
                        continue
                    try:
                        row[index] = token_for_canonical(key, id_type, canonicalize(id_type, raw))
                        present += 1
                    except InvalidIdentifier as exc:
                        problems.append((column, exc.reason))
                if not problems and not present:
                    problems.append(("", "no_identifier"))
                if problems:
                    # The raw values stay out of the rejects file: row number, column and reason only.
                    rejects.writerows([row_number, column, reason] for column, reason in problems)
                    rejected += 1
                    continue
                if add_version:
                    row.append(version)
                writer.writerow(row)
                written += 1
    finally:
        reader_file.close()
    print(
        f"riskshare: tokenized {written} rows with key version {material.version}; "
        f"{rejected} rejected (see {rejects_path})",
        file=sys.stderr,
    )
    return 0


# --- HTTP -----------------------------------------------------------------------


@dataclass
class Client:
    url: str
    api_key: str
    max_retries: int
    timeout: float

    def __post_init__(self) -> None:
        import httpx

        self._httpx = httpx
        self.http = httpx.Client(
            base_url=self.url.rstrip("/"),
            timeout=self.timeout,
            headers={"Authorization": f"Bearer {self.api_key}", "User-Agent": "riskshare-cli/1"},
        )

    def close(self) -> None:
        self.http.close()

    def post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> Any:
        """POST with retries on connection errors, 5xx, 409 (still in flight) and 429, honouring Retry-After."""
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self.http.post(
                    path, content=body, headers={"Content-Type": "application/json", **(headers or {})}
                )
            except self._httpx.TransportError as exc:
                if attempt > self.max_retries:
                    raise CliError(f"{path}: cannot reach the server ({type(exc).__name__})") from None
                self._sleep(attempt, None)
                continue
            if response.status_code < 300:
                return response.json()
            if response.status_code in (409, 429) or response.status_code >= 500:
                if attempt > self.max_retries:
                    raise CliError(f"{path}: {_describe(response)} (gave up after {attempt} attempts)")
                self._sleep(attempt, response.headers.get("Retry-After"))
                continue
            raise CliError(f"{path}: {_describe(response)}")

    @staticmethod
    def _sleep(attempt: int, retry_after: str | None) -> None:
        delay = min(60.0, 0.5 * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)  # noqa: S311 - jitter
        if retry_after:
            try:
                delay = max(delay, float(retry_after))
            except ValueError:
                with contextlib.suppress(TypeError, ValueError):
                    delay = max(delay, parsedate_to_datetime(retry_after).timestamp() - time.time())
        time.sleep(min(delay, 300.0))


def _describe(response) -> str:
    try:
        problem = response.json()
        text = f"{problem.get('status', response.status_code)} {problem.get('code', '')}: {problem.get('detail', '')}"
        for error in (problem.get("errors") or [])[:3]:
            text += f" [{error.get('field')}: {error.get('code')}]"
        return text
    except ValueError:
        return f"HTTP {response.status_code}"


def _client(args: argparse.Namespace) -> Client:
    api_key = os.environ.get("RISKSHARE_API_KEY", "")
    if not api_key:
        raise CliError("set RISKSHARE_API_KEY to your credential's key")
    return Client(url=args.url, api_key=api_key, max_retries=args.max_retries, timeout=args.timeout)


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# --- submit ---------------------------------------------------------------------


def _csv_records(reader_file: _ProgressReader, delimiter: str) -> Iterator[dict[str, Any]]:
    reader = csv.DictReader(reader_file.text, delimiter=delimiter)
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


def _jsonl_records(reader_file: _ProgressReader) -> Iterator[dict[str, Any]]:
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


def submit(args: argparse.Namespace) -> int:
    source = input_file(args.input)
    if not 1 <= args.batch_size <= MAX_BATCH:
        raise CliError(f"--batch-size must be between 1 and {MAX_BATCH}")
    client = _client(args)
    state = _State(Path(args.state or f"{source}.state.json"), source)
    rejects_path = Path(args.rejects or f"{source}.rejects.csv")
    reader_file = _ProgressReader(source, args.encoding, "submit")
    totals = {"batches": 0, "skipped": 0, "accepted": 0, "rejected": 0}
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
    finally:
        reader_file.close()
        client.close()
    print(
        f"riskshare: sent {totals['batches']} batch(es) ({totals['skipped']} already done): "
        f"{totals['accepted']} accepted, {totals['rejected']} rejected (see {rejects_path})",
        file=sys.stderr,
    )
    return 0


# --- lookup ---------------------------------------------------------------------

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
    client = _client(args)
    reader_file = _ProgressReader(source, args.encoding, "lookup")
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


def verify_report(args: argparse.Namespace) -> int:
    """Check a self-inspection report against the platform's public key; 1 on any mismatch."""
    from sharing.reports.verify import public_key_fingerprint, public_key_load, report_verify, verification_lines

    if bool(args.public_key) == bool(args.base_url):
        raise CliError("give exactly one of --public-key FILE or --base-url URL")
    if args.public_key:
        pem = input_file(args.public_key).read_bytes()
    else:
        import httpx

        url = args.base_url.rstrip("/") + "/api/v1/reports/public-key"
        try:
            response = httpx.get(url, timeout=args.timeout, follow_redirects=True)
        except httpx.TransportError as exc:
            raise CliError(f"cannot fetch the public key from {url}: {exc}") from None
        if response.status_code != 200:
            raise CliError(f"cannot fetch the public key from {url}: HTTP {response.status_code}")
        document = response.json()
        pem = document["public_key_pem"].encode()
        try:
            actual = public_key_fingerprint(public_key_load(pem))
        except ValueError as exc:
            raise CliError(f"the served public key is unusable: {exc}") from None
        if actual != document.get("fingerprint"):
            raise CliError("the served public key does not match its own fingerprint")
        if args.fingerprint and args.fingerprint.lower() != actual:
            raise CliError(f"the served public key has fingerprint {actual}, not the expected {args.fingerprint}")
    try:
        result = report_verify(input_file(args.report).read_bytes(), pem)
    except ValueError as exc:
        raise CliError(f"unusable public key: {exc}") from None
    for line in verification_lines(result):
        print(line, file=sys.stdout if result.ok else sys.stderr)
    return 0 if result.ok else 1


def build_parser() -> argparse.ArgumentParser:
    # allow_abbrev=False: "--key <hex>" must be an error, not an abbreviation of --key-file.
    parser = argparse.ArgumentParser(
        prog="riskshare",
        allow_abbrev=False,
        description="Member client of riskshare: tokenize identifiers locally, submit records, look up subjects.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common_csv(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--delimiter", default=",", help="CSV field delimiter (default ',')")
        sub.add_argument("--encoding", default="utf-8-sig", help="input encoding (default utf-8-sig; e.g. gb18030)")

    def common_http(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--url", required=True, help="riskshare base URL, e.g. https://riskshare.example")
        sub.add_argument("--max-retries", type=int, default=8, help="retries on network errors, 5xx, 409, 429")
        sub.add_argument("--timeout", type=float, default=60.0, help="seconds per request")

    tok = commands.add_parser(
        "tokenize",
        allow_abbrev=False,
        help="replace raw identifier columns by tokens",
        description=(
            "Replace each mapped raw identifier column of a CSV file by its token column 'token:<type>' "
            "(HMAC-SHA256 under the consortium key, spec v1) and add a key_version column. Rows with an invalid "
            "identifier go to OUT.rejects.csv with row number, column and reason code, never the raw value. "
            "Empty cells stay empty; a row with no identifier at all is rejected (no_identifier). Streams input "
            "of any size; shows progress on a terminal. The key is read from --key-file or "
            "RISKSHARE_CONSORTIUM_KEY_FILE, never from the command line."
        ),
    )
    tok.add_argument("input", help="input CSV with a header row")
    tok.add_argument("-o", "--output", required=True, help="output CSV")
    tok.add_argument("--key-file", help="consortium key file (JSON: version, key)")
    tok.add_argument(
        "--column",
        action="append",
        default=[],
        metavar="NAME=TYPE",
        help=f"map a column to an identifier type ({', '.join(ID_TYPES)}); repeat for each column",
    )
    common_csv(tok)
    tok.set_defaults(handler=tokenize)

    sub = commands.add_parser(
        "submit",
        allow_abbrev=False,
        help="send tokenized records to POST /api/v1/batches",
        description=(
            "Send records (CSV with the submission API's field names and token:<type> columns, or JSON Lines in "
            "the API's shape) in batches of at most 10,000. Each batch carries an Idempotency-Key derived from its "
            "content, so re-running after a crash never duplicates anything; finished batches are remembered in a "
            "state file and skipped. Per-record rejections are appended to a CSV. API key from RISKSHARE_API_KEY."
        ),
    )
    sub.add_argument("input", help="records file (.csv, or .jsonl/.ndjson)")
    sub.add_argument("--batch-size", type=int, default=MAX_BATCH)
    sub.add_argument("--state", help="state file (default: INPUT.state.json)")
    sub.add_argument("--rejects", help="rejections file (default: INPUT.rejects.csv)")
    common_http(sub)
    common_csv(sub)
    sub.set_defaults(handler=submit)

    look = commands.add_parser(
        "lookup",
        allow_abbrev=False,
        help="look up tokenized subjects through POST /api/v1/lookups",
        description=(
            "Look up every token:<type> cell of a CSV (the output of tokenize) and write one result row per "
            "identifier. Purposes credit_application and account_opening need the subject's consent reference: "
            "from --consent-column (per row) or --consent-reference (whole file). API key from RISKSHARE_API_KEY."
        ),
    )
    look.add_argument("input", help="CSV with token:<type> columns")
    look.add_argument(
        "--purpose",
        required=True,
        choices=["credit_application", "account_opening", "post_loan_monitoring", "fraud_investigation"],
    )
    look.add_argument("--consent-column", help="column holding each row's consent reference")
    look.add_argument("--consent-reference", help="one consent reference for every row")
    look.add_argument("--key-version", type=int, help="key version when the file has no key_version column")
    look.add_argument("-o", "--output", required=True, help="results CSV")
    common_http(look)
    common_csv(look)
    look.set_defaults(handler=lookup)

    ver = commands.add_parser(
        "verify-report",
        allow_abbrev=False,
        help="verify a self-inspection report ZIP and its signature",
        description=(
            "Check every file of a report ZIP against the SHA-256 listed in its manifest.json, that no unlisted "
            "file is present, and the manifest's Ed25519 signature (manifest.sig) with the platform's public key, "
            "from a PEM file or fetched from GET /api/v1/reports/public-key. Prints each mismatch with the file, "
            "the expected and the actual value; exits 1 on any mismatch."
        ),
    )
    ver.add_argument("report", help="the report ZIP")
    ver.add_argument("--public-key", help="the platform's public key (PEM file)")
    ver.add_argument("--base-url", help="riskshare base URL to fetch the public key from")
    ver.add_argument("--fingerprint", help="expected key fingerprint (hex), checked when fetching")
    ver.add_argument("--timeout", type=float, default=30.0, help="seconds for the key request")
    ver.set_defaults(handler=verify_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except CliError as exc:
        print(f"riskshare: error: {exc}", file=sys.stderr)
        return 1
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        print(f"riskshare: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("riskshare: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
