"""``riskshare tokenize``: raw identifiers in, tokens out, on the member's machine."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from sharing.cli.common import (
    TOKEN_COLUMN_PREFIX,
    CliError,
    ProgressReader,
    atomic_output,
    input_file,
    load_key,
    parse_mappings,
    rejects_path_for,
)
from sharing.identifiers import InvalidIdentifier, canonicalize, token_for_canonical


def tokenize(args: argparse.Namespace) -> int:
    material = load_key(args.key_file)
    mapping = parse_mappings(args.column)
    source, output = input_file(args.input), Path(args.output)
    if source.resolve() == output.resolve():
        raise CliError("the output file must differ from the input file")
    rejects_path = rejects_path_for(source)
    reader_file = ProgressReader(source, args.encoding, "tokenize")
    written = rejected = 0
    complete = False
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
        with atomic_output(output) as out_file, atomic_output(rejects_path) as rejects_file:
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
        complete = True
    finally:
        reader_file.close(complete=complete)
    print(
        f"riskshare: tokenized {written} rows with key version {material.version}; "
        f"{rejected} rejected (see {rejects_path})",
        file=sys.stderr,
    )
    return 0
