"""Tokenization throughput of `riskshare tokenize`, on one core and with --jobs N.

Generates a CSV of N rows with two identifier columns (resident ID number and
mobile number, with some full-width and legacy 15-digit values as in real
data), then measures in the same run, alternating, each repetition:
  - bare: reading and writing the same CSV with the csv module, no tokens (the floor, one core);
  - tokenize --jobs J for each J asked: `riskshare tokenize` (in-process driver) with both columns mapped.
Prints rows/s (wall clock), rows per CPU-second (this process and its workers, from
getrusage: what one core does, whatever else the machine runs meanwhile) and the
ratios to the floor for each repetition, then the medians.

    uv run python bench/tokenize.py [--rows 1000000] [--repeat 3] [--jobs 1,2]
"""

from __future__ import annotations

import os
import sys

# This file shares its name with the standard library's `tokenize`, which other
# modules import; keep the bench folder off the import path.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse
import csv
import datetime as dt
import random
import resource
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import parse_args
from sharing.cli import main as cli_main
from sharing.tokens.identifiers import resident_id_check_character
from sharing.tokens.keyfile import key_file_write, key_generate

FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


def generate(path: Path, rows: int, seed: int = 7) -> None:
    rng = random.Random(seed)  # noqa: S311 - synthetic benchmark data
    start = dt.date(1950, 1, 1).toordinal()
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["loan_id", "id_number", "phone", "amount"])
        for n in range(rows):
            born = dt.date.fromordinal(start + rng.randrange(20_000))
            first17 = f"{rng.choice(('110105', '310104', '440305', '510107'))}{born:%Y%m%d}{rng.randrange(1000):03d}"
            id_number = first17 + resident_id_check_character(first17)
            phone = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
            roll = rng.random()
            if roll < 0.05:
                id_number = id_number.translate(FULL_WIDTH)
            elif roll < 0.08 and born.year < 2000:
                id_number = first17[:6] + first17[8:]  # legacy 15-digit
            if rng.random() < 0.3:
                phone = f"+86 {phone[:3]} {phone[3:7]} {phone[7:]}"
            writer.writerow([f"L{n}", id_number, phone, f"{rng.randrange(100, 50_000)}.00"])


def bare_copy(source: Path, target: Path) -> None:
    with open(source, encoding="utf-8-sig", newline="") as src, open(target, "w", encoding="utf-8", newline="") as dst:
        writer = csv.writer(dst, lineterminator="\n")
        for row in csv.reader(src):
            writer.writerow(row)


def cpu_seconds() -> float:
    """CPU time of this process and of its waited-for children (the --jobs workers)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", default=f"1,{os.cpu_count() or 1}", help="comma-separated --jobs values")
    args = parse_args(parser, rows=2_000, repeat=1, jobs="1,2")
    job_counts = sorted({int(value) for value in args.jobs.split(",")})
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        source = tmpdir / "in.csv"
        key_path = tmpdir / "key.json"
        key_file_write(key_path, key_generate(1))
        t0 = time.perf_counter()
        generate(source, args.rows)
        print(
            f"generated {args.rows:,} rows ({source.stat().st_size / 2**20:.0f} MiB) "
            f"in {time.perf_counter() - t0:.1f}s; {cores} cores"
        )
        bare_rates: list[float] = []
        bare_cpu: list[float] = []
        rates: dict[int, list[float]] = {jobs: [] for jobs in job_counts}
        cpu_rates: dict[int, list[float]] = {jobs: [] for jobs in job_counts}
        for repetition in range(1, args.repeat + 1):
            t0, c0 = time.perf_counter(), cpu_seconds()
            bare_copy(source, tmpdir / "bare.csv")
            bare, bare_c = time.perf_counter() - t0, cpu_seconds() - c0
            bare_rates.append(args.rows / bare)
            bare_cpu.append(args.rows / bare_c)
            line = [f"run {repetition}: bare {args.rows / bare:,.0f} rows/s ({args.rows / bare_c:,.0f}/CPU-s)"]
            for jobs in job_counts:
                t0, c0 = time.perf_counter(), cpu_seconds()
                code = cli_main(
                    [
                        "tokenize",
                        str(source),
                        "-o",
                        str(tmpdir / "out.csv"),
                        "--key-file",
                        str(key_path),
                        "--column",
                        "id_number=cn_resident_id",
                        "--column",
                        "phone=cn_mobile",
                        "--jobs",
                        str(jobs),
                    ]
                )
                elapsed, used = time.perf_counter() - t0, cpu_seconds() - c0
                if code != 0:
                    sys.exit("tokenize failed")
                rates[jobs].append(args.rows / elapsed)
                cpu_rates[jobs].append(args.rows / used)
                line.append(
                    f"jobs {jobs}: {args.rows / elapsed:,.0f} rows/s, {args.rows / used:,.0f}/CPU-s "
                    f"({used / elapsed:.2f} cores busy)"
                )
            print("; ".join(line))
        floor, floor_cpu = statistics.median(bare_rates), statistics.median(bare_cpu)
        print(f"median bare CSV read+write (floor, one core): {floor:,.0f} rows/s, {floor_cpu:,.0f} rows/CPU-s")
        for jobs in job_counts:
            rate, cpu_rate = statistics.median(rates[jobs]), statistics.median(cpu_rates[jobs])
            print(
                f"median tokenize --jobs {jobs}: {rate:,.0f} rows/s ({2 * rate:,.0f} identifiers/s) wall, "
                f"{cpu_rate:,.0f} rows per CPU-second; floor/tokenize per CPU-second {floor_cpu / cpu_rate:.2f}x"
            )


if __name__ == "__main__":
    main()
