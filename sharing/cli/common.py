"""Shared pieces of the CLI: errors, progress bars, key files, the HTTP client, canonical JSON."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import sys
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from sharing.tokens.identifiers import ID_TYPES
from sharing.tokens.keyfile import KeyFileError, key_file_read

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
    "credit_limit",
    "outstanding_balance",
    "maturity_date",
    "relief",
    "relief_start",
    "relief_end",
    "new_maturity_date",
)
INTEGER_COLUMNS = {"key_version", "overdue_days"}


class CliError(Exception):
    """Reported as one line on stderr, exit status 1."""


def input_file(name: str) -> Path:
    source = Path(name)
    if not source.is_file():
        raise CliError(f"input file not found: {source}")
    return source


def progress(total_bytes: int | None, description: str):
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


class ProgressReader:
    """Opens a text file and reports how far into it reading has got, for the progress bar and ETA."""

    def __init__(self, path: Path, encoding: str, description: str, *, follow_reading: bool = True):
        # follow_reading False: the bar moves only by acknowledged(), as far as the server has confirmed.
        self.follow_reading = follow_reading
        self.raw = open(path, "rb")  # noqa: SIM115 - closed in close()
        self.text = io.TextIOWrapper(self.raw, encoding=encoding, newline="")
        self.bar = progress(path.stat().st_size, description)
        self.rows = 0
        self.started = time.monotonic()

    def tick(self, rows: int = 1) -> None:
        self.rows += rows
        if self.rows % PROGRESS_EVERY < rows and not self.bar.disable:
            if self.follow_reading:
                self.bar.n = self.raw.tell()
            elapsed = max(time.monotonic() - self.started, 1e-9)
            self.bar.set_postfix(rows=self.rows, rows_per_s=int(self.rows / elapsed), refresh=False)
            self.bar.refresh()

    def acknowledged(self, position: int) -> None:
        """Move the bar to ``position`` bytes: for submit, how far the server has acknowledged."""
        if not self.bar.disable:
            self.bar.n = position
            self.bar.refresh()

    def close(self, *, complete: bool = False) -> None:
        # The bar reaches 100 % only for a run that finished, never for an interrupted one.
        if complete and not self.bar.disable:
            self.bar.n = self.bar.total or self.bar.n
            self.bar.refresh()
        self.bar.close()
        self.text.close()


@contextlib.contextmanager
def atomic_output(path: Path, *, encoding: str = "utf-8"):
    """A text file written under a temporary name beside ``path`` and renamed to it once complete.

    An interrupted or failed run (Ctrl-C, a network error) leaves no truncated file under the final
    name: the temporary one is removed, and an earlier complete file stays as it was.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.partial")
    handle = open(temporary, "w", encoding=encoding, newline="")  # noqa: SIM115 - closed below
    try:
        yield handle
        handle.close()
        temporary.replace(path)
    except BaseException:
        handle.close()
        temporary.unlink(missing_ok=True)
        raise


def load_key(path: str | None):
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


def parse_mappings(pairs: list[str]) -> dict[str, str]:
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


def rejects_path_for(source: Path) -> Path:
    """One scheme for every command: the rows of IN.csv that were refused are listed in IN.rejects.csv."""
    return source.with_name(source.stem + ".rejects.csv")


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
            # A server that is down refuses at once; one that does not answer is given a few seconds to connect.
            timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 5.0)),
            headers={"Authorization": f"Bearer {self.api_key}", "User-Agent": f"riskshare-cli/{cli_version()}"},
        )

    def close(self) -> None:
        self.http.close()

    def post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> Any:
        """POST with retries on connection errors, 5xx, 409 request_in_flight and 429, honouring Retry-After.

        Another 409 (``watch_limit``, an illegal transition) is an answer, not a passing state: no retry.
        """
        return self._send("POST", path, body, {"Content-Type": "application/json", **(headers or {})})

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self._send("GET", path, None, {}, params)

    def delete(self, path: str) -> bool | None:
        """DELETE with the same retries: True when deleted, None when there was nothing (404)."""
        return self._send("DELETE", path, None, {}, missing_ok=True)

    def _send(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str], params=None, missing_ok=False
    ) -> Any:
        attempt = 0
        url = self.url.rstrip("/") + path
        while True:
            attempt += 1
            try:
                response = self.http.request(method, path, content=body, headers=headers, params=params)
            except self._httpx.TransportError as exc:
                problem = f"cannot reach the server ({type(exc).__name__})"
                if attempt > self.max_retries:
                    raise CliError(f"{url}: {problem}, gave up after {attempt} attempts") from None
                self._sleep(url, attempt, None, problem)
                continue
            if response.status_code == 204:
                return True
            if response.status_code < 300:
                return response.json()
            if response.status_code == 404 and missing_ok:
                return None
            if response.status_code == 429 or response.status_code >= 500 or _in_flight(response):
                if attempt > self.max_retries:
                    raise CliError(f"{url}: {describe(response)} (gave up after {attempt} attempts)")
                self._sleep(url, attempt, response.headers.get("Retry-After"), describe(response))
                continue
            raise CliError(f"{url}: {describe(response)}")

    def _sleep(self, url: str, attempt: int, retry_after: str | None, problem: str) -> None:
        delay = min(60.0, 0.5 * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)  # noqa: S311 - jitter
        if retry_after:
            try:
                delay = max(delay, float(retry_after))
            except ValueError:
                with contextlib.suppress(TypeError, ValueError):
                    delay = max(delay, parsedate_to_datetime(retry_after).timestamp() - time.time())
        delay = min(delay, 300.0)
        # Shown as it happens, above the progress bar: a frozen bar must never hide network trouble.
        message = f"riskshare: {url}: {problem}; attempt {attempt} of {self.max_retries + 1}, retrying in {delay:.1f} s"
        from tqdm import tqdm

        tqdm.write(message, file=sys.stderr)
        time.sleep(delay)


def _in_flight(response) -> bool:
    """409 for an Idempotency-Key whose first request is still being processed: worth asking again."""
    if response.status_code != 409:
        return False
    try:
        return response.json().get("code") == "request_in_flight"
    except ValueError:
        return False


def describe(response) -> str:
    try:
        problem = response.json()
        text = f"{problem.get('status', response.status_code)} {problem.get('code', '')}: {problem.get('detail', '')}"
        for error in (problem.get("errors") or [])[:3]:
            text += f" [{error.get('field')}: {error.get('code')}]"
        return text
    except ValueError:
        return f"HTTP {response.status_code}"


def cli_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("riskshare")
    except PackageNotFoundError:  # pragma: no cover - a source checkout that was never installed
        return "0+unknown"


def api_client(args: argparse.Namespace) -> Client:
    api_key = os.environ.get("RISKSHARE_API_KEY", "")
    if not api_key:
        raise CliError("set RISKSHARE_API_KEY to your credential's key")
    return Client(url=args.url, api_key=api_key, max_retries=args.max_retries, timeout=args.timeout)


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# --- options shared by the commands -----------------------------------------------


def csv_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--delimiter", default=",", help="CSV field delimiter")
    sub.add_argument("--encoding", default="utf-8-sig", help="input encoding (e.g. gb18030)")


def http_options(sub: argparse.ArgumentParser) -> None:
    url = os.environ.get("RISKSHARE_URL") or None
    sub.add_argument(
        "--url",
        default=url,
        required=url is None,
        help="riskshare base URL, e.g. https://riskshare.example (default: $RISKSHARE_URL)",
    )
    sub.add_argument(
        "--max-retries", type=int, default=8, help="retries on network errors, 5xx, 429 and 409 request_in_flight"
    )
    sub.add_argument("--timeout", type=float, default=60.0, help="seconds per request")


def token_columns(
    reader, mapping: dict[str, str], source
) -> tuple[list[str], list[tuple[int, str, str]], list[str], bool]:
    """The input's header, where each mapped column is with its type, the output's header (a token column per
    mapped one, ``key_version`` added where the input has none) and whether it was added."""
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
    return header, positions, out_header, add_version
