"""``riskshare tokenize``: raw identifiers in, tokens out, on the member's machine."""

from __future__ import annotations

import argparse
import csv
import os
import sys
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sharing.cli.common import (
    CliError,
    ProgressReader,
    atomic_output,
    input_file,
    load_key,
    parse_mappings,
    rejects_path_for,
    token_columns,
)
from sharing.tokens.identifiers import InvalidIdentifier, canonicalize, token_for_canonical

CHUNK_ROWS = 2_000


@dataclass(frozen=True)
class _Tokenizer:
    positions: list[tuple[int, str, str]]
    width: int
    key: bytes
    version: str
    add_version: bool

    def chunk(self, first_row: int, rows: list[list[str]]) -> tuple[list[list[str]], list[list], int]:
        """Tokenize consecutive rows numbered from ``first_row``: rows out, reject lines, rejected rows."""
        out_rows: list[list[str]] = []
        reject_rows: list[list] = []
        rejected = 0
        key, positions, version = self.key, self.positions, self.version
        for row_number, row in enumerate(rows, start=first_row):
            if len(row) != self.width:
                reject_rows.append([row_number, "", "bad_row_width"])
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
                reject_rows.extend([row_number, column, reason] for column, reason in problems)
                rejected += 1
                continue
            if self.add_version:
                row.append(version)
            out_rows.append(row)
        return out_rows, reject_rows, rejected


def _chunks(reader, reader_file: ProgressReader) -> Iterator[tuple[int, list[list[str]]]]:
    first, rows = 1, []
    for row in reader:
        rows.append(row)
        if len(rows) == CHUNK_ROWS:
            reader_file.tick(CHUNK_ROWS)
            yield first, rows
            first, rows = first + CHUNK_ROWS, []
    if rows:
        reader_file.tick(len(rows))
        yield first, rows


# The worker processes' tokenizer, set once per process (the key crosses to them only at start).
_worker_tokenizer: _Tokenizer | None = None


def _worker_init(tokenizer: _Tokenizer) -> None:
    global _worker_tokenizer
    _worker_tokenizer = tokenizer


def _worker_chunk(first_row: int, rows: list[list[str]]):
    return _worker_tokenizer.chunk(first_row, rows)


def _tokenized(tokenizer: _Tokenizer, chunks, jobs: int):
    """Chunks tokenized in order: in this process, or by ``jobs`` processes with a bounded read-ahead."""
    if jobs <= 1:
        for first_row, rows in chunks:
            yield tokenizer.chunk(first_row, rows)
        return
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=jobs, initializer=_worker_init, initargs=(tokenizer,)) as pool:
        in_flight: deque = deque()
        try:
            for first_row, rows in chunks:
                in_flight.append(pool.submit(_worker_chunk, first_row, rows))
                # At most two chunks a process ahead of the writer: memory stays flat whatever the input.
                if len(in_flight) >= 2 * jobs:
                    yield in_flight.popleft().result()
            while in_flight:
                yield in_flight.popleft().result()
        except BaseException:
            for future in in_flight:
                future.cancel()
            raise


def uses_v2(args: argparse.Namespace) -> bool:
    """A keys file (``--keys``, or $RISKSHARE_TOKEN_KEYS_FILE with no v1 key file anywhere) means v2."""
    if args.keys:
        return True
    v1 = args.key_file or os.environ.get("RISKSHARE_CONSORTIUM_KEY_FILE")
    return not v1 and bool(os.environ.get("RISKSHARE_TOKEN_KEYS_FILE"))


def tokenize(args: argparse.Namespace) -> int:
    mapping = parse_mappings(args.column)
    if args.jobs < 1:
        raise CliError("--jobs must be at least 1")
    source, output = input_file(args.input), Path(args.output)
    if source.resolve() == output.resolve():
        raise CliError("the output file must differ from the input file")
    rejects_path = rejects_path_for(source)
    if uses_v2(args):
        from sharing.cli.tokenize_v2 import tokenize_v2

        return tokenize_v2(args, mapping, source, output, rejects_path)
    material = load_key(args.key_file)
    reader_file = ProgressReader(source, args.encoding, "tokenize")
    written = rejected = 0
    complete = False
    try:
        reader = csv.reader(reader_file.text, delimiter=args.delimiter)
        header, positions, out_header, add_version = token_columns(reader, mapping, source)
        tokenizer = _Tokenizer(positions, len(header), material.key, str(material.version), add_version)
        with atomic_output(output) as out_file, atomic_output(rejects_path) as rejects_file:
            writer = csv.writer(out_file, delimiter=args.delimiter, lineterminator="\n")
            rejects = csv.writer(rejects_file, lineterminator="\n")
            writer.writerow(out_header)
            rejects.writerow(["row", "column", "reason"])
            for out_rows, reject_rows, chunk_rejected in _tokenized(tokenizer, _chunks(reader, reader_file), args.jobs):
                writer.writerows(out_rows)
                rejects.writerows(reject_rows)
                written += len(out_rows)
                rejected += chunk_rejected
        complete = True
    finally:
        reader_file.close(complete=complete)
    print(
        f"riskshare: tokenized {written} rows with key version {material.version}; "
        f"{rejected} rejected (see {rejects_path})",
        file=sys.stderr,
    )
    return 0
