"""Sending a file in requests of up to 10,000 rows that a re-run resumes: ``submit`` and ``watch add``.

Each request's Idempotency-Key is derived from its content, and a state file beside the input records
the requests that were answered: a re-run after a crash or a dropped connection skips what is done and
re-sends the rest, which the server answers from its idempotency record instead of applying twice.
Refused rows go to a rejects CSV, numbered by their row in the input.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sharing.cli.common import Client, CliError, canonical_json


def state_path(source: Path, given: str | None = None) -> Path:
    """The state file of an input: the one given, or ``<input>.state.json`` beside it."""
    return Path(given or f"{source}.state.json")


def state_document(path: Path) -> dict[str, Any]:
    """A state file as ``SendState`` writes it: ``{"source", "done": {request: entry}}``."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(document, dict) or not isinstance(document.get("done", {}), dict):
            raise ValueError("no requests done in it")
    except (OSError, ValueError) as exc:
        raise CliError(f"{path} is not a state file of `riskshare submit` or `watch add`: {exc}") from exc
    return document


class SendState:
    """Which requests of an input file are done, so a re-run resumes where it stopped."""

    def __init__(self, path: Path, source: Path):
        self.path = path
        self.source = str(source.resolve())
        self.done: dict[str, dict[str, Any]] = {}
        if path.exists():
            document = state_document(path)
            if document.get("source") != self.source:
                raise CliError(f"state file {path} belongs to {document.get('source')}; pass another --state")
            self.done = document.get("done", {})

    def mark(self, index: int, entry: dict[str, Any]) -> None:
        self.done[str(index)] = entry
        temporary = self.path.with_suffix(self.path.suffix + ".tmp")
        temporary.write_text(json.dumps({"source": self.source, "done": self.done}), encoding="utf-8")
        temporary.replace(self.path)


def chunks(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@dataclass
class Sent:
    requests: int = 0
    skipped: int = 0  # done in an earlier run
    accepted: int = 0
    rejected: int = 0
    answers: list[dict[str, Any]] = field(default_factory=list)  # of the requests sent in this run


def send_resumable(
    *,
    client: Client,
    path: str,
    rows: Iterator[dict[str, Any]],
    batch_size: int,
    body: Callable[[list[dict[str, Any]]], dict[str, Any]],
    key_prefix: str,
    state: SendState,
    rejects_path: Path,
    rejects_header: list[str],
    state_entry: Callable[[dict[str, Any]], dict[str, Any]] = lambda answer: {},
    after_each: Callable[[], None] = lambda: None,
) -> Sent:
    """POST ``body(chunk)`` to ``path`` for each chunk of ``rows``, skipping the chunks a state file holds done.

    The answer's ``errors`` (``{"index", "field", "code", "message"}``) are appended to the rejects CSV with
    the row's number in the input and its reference; ``after_each`` runs once a chunk is done or skipped.
    """
    sent = Sent()
    new_rejects = not rejects_path.exists()
    with open(rejects_path, "a", encoding="utf-8", newline="") as rejects_file:
        rejects = csv.writer(rejects_file, lineterminator="\n")
        if new_rejects:
            rejects.writerow(rejects_header)
        offset = 0
        for index, chunk in enumerate(chunks(rows, batch_size)):
            content = canonical_json(body(chunk))
            # Deterministic per request content: a re-send is answered, never applied twice.
            idempotency_key = key_prefix + hashlib.sha256(content).hexdigest()[:48]
            done = state.done.get(str(index))
            if done and done.get("idempotency_key") == idempotency_key:
                sent.skipped += 1
            else:
                answer = client.post(path, content, {"Idempotency-Key": idempotency_key})
                for error in answer.get("errors", []):
                    position = error.get("index", 0)
                    reference = chunk[position].get("reference", "") if 0 <= position < len(chunk) else ""
                    rejects.writerow(
                        [offset + position + 1, reference, error.get("field"), error.get("code"), error.get("message")]
                    )
                rejects_file.flush()
                state.mark(index, {"idempotency_key": idempotency_key, **state_entry(answer)})
                sent.requests += 1
                sent.accepted += answer.get("accepted", 0)
                sent.rejected += answer.get("rejected", 0)
                sent.answers.append(answer)
            offset += len(chunk)
            after_each()
    return sent
