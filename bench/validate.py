"""Parse + validate cost of POST /api/v1/batches bodies, in µs per record, against orjson.loads of the same body.

No database, no HTTP: the body of 10,000 records goes through the batch contract
(``sharing.records.contracts.batch_parse``) as the view calls it. Two bodies: every record valid
(the typed decode), and the same body with every 100th record invalid (loaded as plain JSON, each
record checked on its own). The floor is ``orjson.loads`` of each body, measured in the same
rounds.

``--before REV`` also measures the validator of an earlier commit (sharing/validation.py there:
its msgspec fast path, and for the body with errors the fast path's refusal followed by its
per-record loop), its module loaded from git. Rounds alternate floor / before / after, so that a
change in the machine's speed touches all alike; the figures are medians over the rounds.

    uv run python bench/validate.py --before 8a06412 --rounds 15
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# This folder's tokenize.py would shadow the standard library's.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]
sys.path.insert(0, str(ROOT))
from bench.common import parse_args, secrets_env


def make_body(records: int, *, broken_every: int | None) -> bytes:
    import random

    import orjson

    rng = random.Random(f"validate:{records}")  # noqa: S311 - benchmark data, not secrets
    rows = []
    for n in range(records):
        record = {
            "reference": f"LOAN-{n:08d}",
            "kind": "delinquency",
            "category": "overdue",
            "identifiers": [
                {"type": "cn_resident_id", "token": rng.randbytes(32).hex()},
                {"type": "cn_mobile", "token": rng.randbytes(32).hex()},
            ],
            "key_version": 1,
            "event_date": "2026-06-10",
            "overdue_days": 1 + n % 400,
            "overdue_amount": f"{n % 9000}.{n % 100:02d}",
            "currency": "CNY",
            "product": "consumer_loan",
        }
        if n % 3 == 0:
            record = {k: v for k, v in record.items() if k not in ("overdue_days", "overdue_amount", "currency")}
            record.pop("product")
            record.update(kind="blacklist", category="fraud_ring")
        if broken_every and n % broken_every == broken_every - 1:
            record["kind"] = "fraud"
        rows.append(record)
    return orjson.dumps({"records": rows})


def load_before(rev: str):
    """sharing/validation.py as it was at ``rev``, as a module of its own."""
    source = subprocess.run(
        ["git", "show", f"{rev}:sharing/validation.py"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "validation_before.py"
    path.write_bytes(source)
    spec = importlib.util.spec_from_file_location("validation_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # msgspec resolves the annotations through it
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--before", help="a commit whose sharing/validation.py to measure too (e.g. 8a06412)")
    args = parse_args(parser, records=200, rounds=2)

    # Production mode without the embedded server (no statement is sent): the settings need the secrets.
    os.environ.setdefault("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    os.environ.update({**secrets_env(), "DEBUG": "0"})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    import orjson

    from core.gcpause import gc_paused
    from sharing.records.contracts import batch_parse

    today, versions = dt.date.today(), frozenset({1})
    context = {"today": today, "current_versions": versions, "retired_versions": frozenset()}
    bodies = {"valid": make_body(args.records, broken_every=None), "errors": make_body(args.records, broken_every=100)}

    def after(body: bytes) -> None:
        batch_parse(body, **context)

    candidates = {"floor": orjson.loads, "after": after}
    if args.before:
        old = load_before(args.before)

        def before(body: bytes) -> None:
            valid = old.validate_body_fast(body, today=today, current_versions=versions)
            if valid is None:
                old.validate_records(
                    orjson.loads(body)["records"], today=today, current_versions=versions, retired_versions=frozenset()
                )

        candidates = {"floor": orjson.loads, "before": before, "after": after}

    times: dict[tuple[str, str], list[float]] = {(b, c): [] for b in bodies for c in candidates}
    for body in bodies.values():  # warm up
        for run in candidates.values():
            run(body)
    for _round in range(args.rounds):
        for name, body in bodies.items():
            for candidate, run in candidates.items():
                with gc_paused():  # as in the request
                    started = time.perf_counter()
                    run(body)
                    times[name, candidate].append((time.perf_counter() - started) / args.records * 1e6)

    print(f"{args.records:,} records a body, {args.rounds} alternating rounds, medians (min–max) in µs/record")
    for name in bodies:
        floor = statistics.median(times[name, "floor"])
        for candidate in candidates:
            values = times[name, candidate]
            median = statistics.median(values)
            print(
                f"  {name:6} {candidate:6} {median:6.2f}  ({min(values):.2f}–{max(values):.2f})"
                f"  {median / floor:5.2f}× floor"
            )


if __name__ == "__main__":
    main()
