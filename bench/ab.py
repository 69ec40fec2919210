"""Same-moment A/B: one benchmark run in turn in two or more checkouts, medians and spread of each figure.

    uv run python bench/ab.py --rounds 5 before=/work/wt-before:bench_before \\
        after=/work/wt-perf:bench_after -- lookup.py --skip-load

Each side is NAME=CHECKOUT[:DATABASE]: the benchmark script of that checkout runs there with its own
environment (``uv run``), on RISKSHARE_BENCH_DB=DATABASE when given. Runs alternate A B B A A B …
(with more sides, forward then backward: a series of commits, each against the one before), so
that a slow spell of the shared machine falls on every side. Every run's output is kept under
--logs. The spread printed for each side, (max - min) / median over its own runs of one code, is
the machine's noise at that moment: a difference of medians inside it is no difference.
"""

from __future__ import annotations

import os
import sys

# bench/tokenize.py shadows the standard library's tokenize for scripts run from this folder.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse
import re
import statistics
import subprocess
import time
from pathlib import Path

from bench.common import parse_args

# Figures each benchmark prints, by the label of their line; lower is better unless named in HIGHER.
FIGURES = {
    "lookup.py": [
        (r"no-database view \(/healthz\): p50 ([\d.]+) ms, p99 ([\d.]+) ms", ["floor p50 ms", "floor p99 ms"]),
        (r"single lookup end to end:\s+p50 ([\d.]+) ms, p99 ([\d.]+) ms", ["single p50 ms", "single p99 ms"]),
        (r"through httpx:\s+p50 ([\d.]+) ms, p99 ([\d.]+) ms", ["httpx p50 ms", "httpx p99 ms"]),
        (r"10% hits:\s+median (\d+) ms", ["10k at 10% ms"]),
        (r"100% hits: median (\d+) ms", ["10k at 100% ms"]),
    ],
    "ingest.py": [
        (r"HTTP ingest:\s+([\d,]+) records/s", ["HTTP records/s"]),
        (r"raw COPY:\s+([\d,]+) records/s", ["COPY records/s"]),
        (r"HTTP/COPY = ([\d.]+)", ["HTTP/COPY"]),
        (r"p50 (\d+) ms, p95 (\d+) ms with \d+ clients; p50 (\d+) ms", ["POST p50 ms", "POST p95 ms", "solo p50 ms"]),
        (r"parse \+ validate: ([\d.]+) µs/record.*; ([\d.]+) µs/record", ["validate µs", "detailed µs"]),
        (r"matching:\s+([\d,]+) records/s", ["matching records/s"]),
    ],
    "monitoring.py": [
        (
            r"POST of 10,000 watches p50 (\d+) ms vs 10,000-record batch p50 (\d+) ms: ratio ([\d.]+)",
            ["watches POST p50 ms", "batch POST p50 ms", "watches/batch POST"],
        ),
    ],
    "tlog.py": [
        (r"throughput ratio with/without: ([\d.]+)", ["ingest with/without log"]),
        (r"= ([\d,]+) leaves/s", ["sequencer leaves/s"]),
        (r"floor \(GET /api/v1/log/key\): p50 ([\d.]+) ms", ["floor p50 ms"]),
        (r"inclusion proof on [\d,]+ leaves[^:]*: p50 ([\d.]+) ms, p95 ([\d.]+) ms", ["proof p50 ms", "proof p95 ms"]),
    ],
}
HIGHER = {
    "HTTP records/s",
    "COPY records/s",
    "HTTP/COPY",
    "matching records/s",
    "ingest with/without log",
    "sequencer leaves/s",
}
# Ratios to the floor measured in the same run.
DERIVED = {
    "lookup.py": [("single p50 / floor p50", "single p50 ms", "floor p50 ms")],
    "tlog.py": [("proof p50 / floor p50", "proof p50 ms", "floor p50 ms")],
}


def figures(script: str, output: str) -> dict[str, float]:
    found = {}
    for pattern, names in FIGURES[script]:
        match = re.search(pattern, output)
        if match:
            values = [float(value.replace(",", "")) for value in match.groups()]
            found.update(zip(names, values, strict=True))
    for name, top, bottom in DERIVED.get(script, []):
        if top in found and bottom in found:
            found[name] = found[top] / found[bottom]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--logs", default="var/bench-ab", help="folder for every run's output")
    parser.add_argument("sides", nargs="+", metavar="NAME=CHECKOUT[:DATABASE]")
    argv = sys.argv[1:]
    if "--" not in argv:
        parser.parse_args(argv)  # answers --help
        parser.error("name the benchmark after --: -- SCRIPT [ARGS], a script of bench/")
    split = argv.index("--")
    args = parse_args(parser, argv[:split], rounds=1)
    script, *bench_args = argv[split + 1 :]
    sides = []
    for spec in args.sides:
        name, _, where = spec.partition("=")
        checkout, _, database = where.partition(":")
        sides.append((name, Path(checkout), database))
    logs = Path(args.logs)
    logs.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in sides}
    for round_ in range(args.rounds):
        order = sides if round_ % 2 == 0 else sides[::-1]
        for name, checkout, database in order:
            env = {**os.environ}
            if database:
                env["RISKSHARE_BENCH_DB"] = database
            started = time.monotonic()
            run = subprocess.run(
                ["uv", "run", "python", str(checkout / "bench" / script), *bench_args],  # noqa: S607 - uv from PATH
                cwd=checkout,
                env=env,
                capture_output=True,
                text=True,
            )
            log = logs / f"{script.removesuffix('.py')}-{name}-{round_}.txt"
            log.write_text(run.stdout + run.stderr)
            if run.returncode:
                sys.exit(f"{name} failed (round {round_}), see {log}")
            results[name].append(figures(script, run.stdout))
            print(f"round {round_} {name}: {time.monotonic() - started:.0f}s {results[name][-1]}", flush=True)
    names = [name for name, _, _ in sides]
    print(f"\n{'figure':<24}" + "".join(f" {name:>10} {'spread':>6} {'change':>7}" for name in names))
    for figure in results[names[0]][0]:
        line, previous = f"{figure:<24}", None
        for name in names:
            values = [run[figure] for run in results[name] if figure in run]
            median = statistics.median(values)
            spread = (max(values) - min(values)) / median if median else 0.0
            change = f"{(median - previous) / previous:+7.1%}" if previous else " " * 7
            line += f" {median:>10.3f} {spread:>6.0%} {change}"
            previous = median
        print(line + (" (higher is better)" if figure in HIGHER else ""))


if __name__ == "__main__":
    main()
