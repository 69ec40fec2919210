"""``riskshare tokenize`` under a v2 key version: blind here, evaluate at the platform, verify, finalize here.

Per chunk of rows: canonicalize every mapped cell (invalid ones go to the rejects file as in v1), take each
type's distinct values, blind them, send each type's elements in one ``POST /api/v1/tokens/evaluate`` (at most
10,000), verify the batched proof against the public key pinned by ``riskshare keys fetch`` — a proof that does
not verify stops the run, with nothing written for that chunk — and finalize. Raw values never leave the
machine; the platform sees blinded elements it cannot link to them.

Resumable: the output and rejects grow under temporary names beside the output, and a state file
(``OUTPUT.state.json``) records how many input rows they hold. Re-running the same command continues after
them (each evaluation counts against the member's limits, so a crash must not cost them twice).
"""

from __future__ import annotations

import argparse
import base64
import csv
import json
import os
import sys
from pathlib import Path

from sharing.cli.common import Client, CliError, ProgressReader, canonical_json, token_columns
from sharing.cli.keys import pinned_key
from sharing.tokens import oprf
from sharing.tokens.identifiers import InvalidIdentifier, canonicalize

# Rows per chunk: each type then has at most this many distinct values, one request's worth.
CHUNK_ROWS = oprf.MAX_ELEMENTS


class _Run:
    def __init__(self, args: argparse.Namespace, source: Path, output: Path, rejects_path: Path, mapping):
        self.key = pinned_key(args.keys, args.key_version)
        self.version = int(self.key["version"])
        self.public_keys = {t: bytes.fromhex(k) for t, k in (self.key["public_keys"] or {}).items()}
        self.mapping = mapping
        self.source, self.output, self.rejects_path = source, output, rejects_path
        self.state_path = Path(args.state or f"{output}.state.json")
        self.partial = output.with_name(f".{output.name}.partial")
        self.rejects_partial = rejects_path.with_name(f".{rejects_path.name}.partial")
        self.identity = {"source": str(source.resolve()), "key_version": self.version, "columns": mapping}
        self.state = {"rows": 0, "written": 0, "rejected": 0, "output_bytes": 0, "rejects_bytes": 0}

    def open(self, out_header: list[str]):
        """The two growing files, resumed from the state file when it names this same run."""
        if self.state_path.exists() and self.partial.exists() and self.rejects_partial.exists():
            document = json.loads(self.state_path.read_text(encoding="utf-8"))
            if {k: document.get(k) for k in self.identity} != json.loads(canonical_json(self.identity)):
                raise CliError(f"{self.state_path} belongs to another run; remove it or pass another --state")
            self.state = {k: document[k] for k in self.state}
            out = open(self.partial, "r+", encoding="utf-8", newline="")  # noqa: SIM115 - closed by the caller
            rejects = open(self.rejects_partial, "r+", encoding="utf-8", newline="")  # noqa: SIM115
            out.truncate(self.state["output_bytes"])
            rejects.truncate(self.state["rejects_bytes"])
            out.seek(0, os.SEEK_END)
            rejects.seek(0, os.SEEK_END)
            print(f"riskshare: resuming after row {self.state['rows']} ({self.state_path})", file=sys.stderr)
            return out, rejects, True
        out = open(self.partial, "w", encoding="utf-8", newline="")  # noqa: SIM115
        rejects = open(self.rejects_partial, "w", encoding="utf-8", newline="")  # noqa: SIM115
        return out, rejects, False

    def save(self, out, rejects) -> None:
        out.flush()
        rejects.flush()
        self.state["output_bytes"], self.state["rejects_bytes"] = out.tell(), rejects.tell()
        temporary = self.state_path.with_name(self.state_path.name + ".tmp")
        temporary.write_text(json.dumps({**self.identity, **self.state}), encoding="utf-8")
        temporary.replace(self.state_path)

    def tokens_for(self, client: Client, id_type: str, canonicals: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(canonicals), oprf.MAX_ELEMENTS):
            part = canonicals[start : start + oprf.MAX_ELEMENTS]
            blinded = oprf.Blinded([oprf.token_input(id_type, canonical) for canonical in part])
            body = {
                "key_version": self.version,
                "type": id_type,
                "blinded": [base64.b64encode(element).decode() for element in blinded.elements],
            }
            answer = client.post("/api/v1/tokens/evaluate", json.dumps(body).encode())
            try:
                evaluated = [base64.b64decode(element, validate=True) for element in answer["evaluated"]]
                proof = base64.b64decode(answer["proof"], validate=True)
                tokens = blinded.finalize(evaluated, proof, self.public_keys[id_type])
            except (KeyError, TypeError, ValueError) as exc:
                # ProofError is a ValueError: no fallback, nothing of this chunk is written.
                raise CliError(
                    f"the platform's answer for {id_type} under key version {self.version} does not verify against "
                    f"the pinned public key ({exc}); stopped, nothing of this chunk was written. Tell the platform's "
                    "operator; do not use tokens from this server until it is explained."
                ) from None
            found.update(zip(part, tokens, strict=True))
        return found

    def chunk(self, client: Client, first_row: int, rows: list[list[str]], positions, width: int, add_version: bool):
        problems_by_row: dict[int, list[tuple[str, str]]] = {}
        canonical_rows: list[list[tuple[int, str, str] | None]] = []
        distinct: dict[str, dict[str, None]] = {id_type: {} for _i, _c, id_type in positions}
        for offset, row in enumerate(rows):
            cells: list[tuple[int, str, str] | None] = []
            if len(row) != width:
                problems_by_row[offset] = [("", "bad_row_width")]
                canonical_rows.append(cells)
                continue
            for index, column, id_type in positions:
                raw = row[index]
                if not raw.strip():
                    row[index] = ""
                    continue
                try:
                    canonical = canonicalize(id_type, raw)
                except InvalidIdentifier as exc:
                    problems_by_row.setdefault(offset, []).append((column, exc.reason))
                    continue
                cells.append((index, id_type, canonical))
            if not cells and offset not in problems_by_row:
                problems_by_row[offset] = [("", "no_identifier")]
            if offset not in problems_by_row:
                for _index, id_type, canonical in cells:
                    distinct[id_type][canonical] = None
            canonical_rows.append(cells)
        tokens = {
            id_type: self.tokens_for(client, id_type, list(values)) for id_type, values in distinct.items() if values
        }
        out_rows, reject_rows = [], []
        for offset, (row, cells) in enumerate(zip(rows, canonical_rows, strict=True)):
            if offset in problems_by_row:
                reject_rows.extend([first_row + offset, column, reason] for column, reason in problems_by_row[offset])
                continue
            for index, id_type, canonical in cells:
                row[index] = tokens[id_type][canonical]
            if add_version:
                row.append(str(self.version))
            out_rows.append(row)
        return out_rows, reject_rows, len(problems_by_row)


def tokenize_v2(args: argparse.Namespace, mapping: dict[str, str], source: Path, output: Path, rejects_path: Path):
    run = _Run(args, source, output, rejects_path, mapping)
    for id_type in mapping.values():
        if id_type not in run.public_keys:
            raise CliError(f"key version {run.version} has no public key for {id_type}")
    url = args.url or os.environ.get("RISKSHARE_URL")
    api_key = os.environ.get("RISKSHARE_API_KEY", "")
    if not url or not api_key:
        raise CliError(
            "a v2 key version tokenizes through the platform: set --url (or RISKSHARE_URL) and RISKSHARE_API_KEY"
        )
    client = Client(url=url, api_key=api_key, max_retries=args.max_retries, timeout=args.timeout)
    reader_file = ProgressReader(source, args.encoding, "tokenize")
    complete = False
    try:
        reader = csv.reader(reader_file.text, delimiter=args.delimiter)
        header, positions, out_header, add_version = token_columns(reader, mapping, source)
        out, rejects_file, resumed = run.open(out_header)
        with out, rejects_file:
            writer = csv.writer(out, delimiter=args.delimiter, lineterminator="\n")
            rejects = csv.writer(rejects_file, lineterminator="\n")
            if not resumed:
                writer.writerow(out_header)
                rejects.writerow(["row", "column", "reason"])
                run.save(out, rejects_file)
            for _skipped in range(run.state["rows"]):
                if next(reader, None) is None:
                    break
            reader_file.tick(run.state["rows"])
            row_number = run.state["rows"] + 1
            while True:
                rows = [row for _n, row in zip(range(CHUNK_ROWS), reader, strict=False)]
                if not rows:
                    break
                out_rows, reject_rows, rejected = run.chunk(
                    client, row_number, rows, positions, len(header), add_version
                )
                writer.writerows(out_rows)
                rejects.writerows(reject_rows)
                run.state["rows"] += len(rows)
                run.state["written"] += len(out_rows)
                run.state["rejected"] += rejected
                run.save(out, rejects_file)
                reader_file.tick(len(rows))
                row_number += len(rows)
        run.partial.replace(output)
        run.rejects_partial.replace(rejects_path)
        run.state_path.unlink(missing_ok=True)
        complete = True
    finally:
        reader_file.close(complete=complete)
        client.close()
    print(
        f"riskshare: tokenized {run.state['written']} rows with key version {run.version} (v2, proofs verified); "
        f"{run.state['rejected']} rejected (see {rejects_path})",
        file=sys.stderr,
    )
    return 0
