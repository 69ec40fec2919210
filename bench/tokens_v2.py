"""Tokens v2 (RFC 9497 VOPRF) through the platform: the evaluation API and `riskshare tokenize` end to end.

    uv run python bench/tokens_v2.py [--rows 1000000] [--runs 7] [--skip-tokenize]

Sets up the riskshare_bench database (bench/ingest.py's), starts the token evaluator (its own process, a seed
file in a temporary folder) and gunicorn (2 workers) beside it, opens a v2 key version, then measures in one
run, each figure beside its floor:

  1. A 10,000-element POST /api/v1/tokens/evaluate, p50 of --runs, against the evaluator's own time for the
     same batch in this process (BlindEvaluate + the batched proof): the HTTP, metering and audit overhead.
     Target: ≤ 1.5×. Then evaluations/s with two clients at once on the machine's two cores.
  2. `riskshare tokenize` under v2 of --rows rows with two identifier columns against that server, against the
     CLI's own blind + finalize + proof check in-process for the same distinct values (the floor: what the
     member's machine must do whatever the network). Target: identifiers/s ≥ 0.5× the floor. And v1's tokenize
     of the same file, for the ratio v2 : v1.

Ingest and lookups are not measured here: a v2 token is 64 hex characters like a v1 token, and nothing after
tokenization changed.
"""

from __future__ import annotations

import os
import sys

# bench/tokenize.py shadows the standard library's tokenize for scripts run from this folder.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse
import base64
import concurrent.futures
import contextlib
import csv
import importlib.util
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RISKSHARE = str(Path(sys.executable).with_name("riskshare"))  # the member's command, as installed


def _load(name: str, file: str):
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(file))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ingest = _load("bench_ingest", "ingest.py")
parse_args = ingest.parse_args  # bench/common.py's: --smoke
bench_tokenize = _load("bench_tokenize", "tokenize.py")


def start_evaluator(folder: Path) -> tuple[subprocess.Popen, Path, Path]:
    socket_path, seed_file = folder / "evaluator.sock", folder / "seeds.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "sharing.tokens.evaluator", "--socket", str(socket_path), "--seed-file", str(seed_file)],
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        if socket_path.exists():
            return process, socket_path, seed_file
        time.sleep(0.05)
    process.terminate()
    sys.exit("the evaluator did not start")


def distinct_values(source: Path) -> dict[str, list[str]]:
    from sharing.tokens.identifiers import InvalidIdentifier, canonicalize

    found: dict[str, dict[str, None]] = {"cn_resident_id": {}, "cn_mobile": {}}
    with open(source, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        for row in reader:
            for id_type, raw in (("cn_resident_id", row[1]), ("cn_mobile", row[2])):
                with contextlib.suppress(InvalidIdentifier):
                    found[id_type][canonicalize(id_type, raw)] = None
    return {id_type: list(values) for id_type, values in found.items()}


def client_floor(values: dict[str, list[str]], seed: bytes) -> float:
    """Seconds of the CLI's own work for these values: blind, proof check and finalize, evaluation excluded."""
    from sharing.tokens import oprf

    spent = 0.0
    for id_type, canonicals in values.items():
        evaluator = oprf.evaluator_for(seed, id_type)
        public = oprf.public_key(evaluator)
        for start in range(0, len(canonicals), oprf.MAX_ELEMENTS):
            part = canonicals[start : start + oprf.MAX_ELEMENTS]
            t0 = time.perf_counter()
            blinded = oprf.Blinded([oprf.token_input(id_type, c) for c in part])
            spent += time.perf_counter() - t0
            evaluated, proof = oprf.blind_evaluate(evaluator, blinded.elements)
            t0 = time.perf_counter()
            blinded.finalize(evaluated, proof, public)
            spent += time.perf_counter() - t0
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--port", type=int, default=8767)
    parser.add_argument("--skip-tokenize", action="store_true")
    parser.add_argument("--skip-api", action="store_true", help="only the tokenize measures (an A/B of the CLI)")
    parser.add_argument("--seconds", type=float, default=15, help="how long the two clients evaluate at once")
    args = parse_args(parser, rows=200, runs=1, seconds=1)

    import httpx

    from sharing.tokens import oprf
    from sharing.tokens.evaluator import seeds_read

    folder = Path(tempfile.mkdtemp(prefix="riskshare-v2-"))
    evaluator, socket_path, seed_file = start_evaluator(folder)
    env = ingest.django_env(
        {
            "RISKSHARE_EVALUATOR_SOCKET": str(socket_path),
            "RISKSHARE_EVALUATIONS_PER_DAY_FLOOR": str(10**10),
            "RISKSHARE_EVALUATIONS_SLACK": str(10**11),
        }
    )
    os.environ.update(env)
    gunicorn = None
    try:
        key = ingest.setup_database(env)
        subprocess.run(
            [sys.executable, "manage.py", "consortium_key_new", "--scheme", "voprf-v2"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        seed = seeds_read(seed_file)[2]
        gunicorn = ingest.start_gunicorn(env, args.port)
        base = f"http://127.0.0.1:{args.port}"
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        mobile = oprf.evaluator_for(seed, "cn_mobile")
        blinded = oprf.Blinded([oprf.token_input("cn_mobile", f"138{n:08d}") for n in range(oprf.MAX_ELEMENTS)])
        body = json.dumps(
            {
                "key_version": 2,
                "type": "cn_mobile",
                "blinded": [base64.b64encode(e).decode() for e in blinded.elements],
            }
        ).encode()
        print(f"request body: {len(body) / 1024:.0f} KiB for {oprf.MAX_ELEMENTS:,} elements; {os.cpu_count()} cores")

        if not args.skip_api:
            with httpx.Client(base_url=base, headers=headers, timeout=120) as http:
                http.post("/api/v1/tokens/evaluate", content=body).raise_for_status()  # warm both sides
                in_process, through_api = [], []
                for _ in range(args.runs):  # alternating, so both see the machine in the same state
                    t0 = time.perf_counter()
                    oprf.blind_evaluate(mobile, blinded.elements)
                    in_process.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    answer = http.post("/api/v1/tokens/evaluate", content=body)
                    through_api.append(time.perf_counter() - t0)
                    answer.raise_for_status()
            floor, api = statistics.median(in_process), statistics.median(through_api)
            print(
                f"1. evaluate 10,000: in-process (floor) p50 {floor * 1000:.0f} ms; through the API p50 "
                f"{api * 1000:.0f} ms (min {min(through_api) * 1000:.0f}, max {max(through_api) * 1000:.0f}); "
                f"ratio {api / floor:.2f} (target ≤ 1.5)"
            )

            def client_loop(deadline: float) -> int:
                done = 0
                with httpx.Client(base_url=base, headers=headers, timeout=120) as own:
                    while time.perf_counter() < deadline:
                        own.post("/api/v1/tokens/evaluate", content=body).raise_for_status()
                        done += oprf.MAX_ELEMENTS
                return done

            started = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                counts = list(pool.map(client_loop, [started + args.seconds] * 2))
            elapsed = time.perf_counter() - started
            rate = sum(counts) / elapsed
            print(f"   two clients at once: {rate:,.0f} evaluations/s ({sum(counts):,} in {elapsed:.1f} s)")

        if args.skip_tokenize:
            return
        source = folder / "in.csv"
        bench_tokenize.generate(source, args.rows)
        values = distinct_values(source)
        identifiers = sum(len(v) for v in values.values())
        keys_file = folder / "keys.json"
        cli_env = {**env, "RISKSHARE_API_KEY": key, "RISKSHARE_URL": base}
        subprocess.run(
            [RISKSHARE, "keys", "fetch", "-o", str(keys_file)],
            cwd=ROOT,
            env=cli_env,
            check=True,
            capture_output=True,
        )
        columns = ["--column", "id_number=cn_resident_id", "--column", "phone=cn_mobile"]
        t0 = time.perf_counter()
        v2_out = folder / "out.v2.csv"
        subprocess.run(
            [RISKSHARE, "tokenize", str(source), "-o", str(v2_out), "--keys", str(keys_file), *columns],
            cwd=ROOT,
            env=cli_env,
            check=True,
            capture_output=True,
        )
        v2_seconds = time.perf_counter() - t0
        floor_seconds = client_floor(values, seed)
        from sharing.tokens.keyfile import key_file_write, key_generate

        key_path = folder / "v1.json"
        key_file_write(key_path, key_generate(1))
        t0 = time.perf_counter()
        subprocess.run(
            [
                RISKSHARE,
                "tokenize",
                str(source),
                "-o",
                str(folder / "out.v1.csv"),
                "--key-file",
                str(key_path),
                *columns,
            ],
            cwd=ROOT,
            env=cli_env,
            check=True,
            capture_output=True,
        )
        v1_seconds = time.perf_counter() - t0
        e2e_rate, floor_rate = identifiers / v2_seconds, identifiers / floor_seconds
        print(
            f"2. tokenize {args.rows:,} rows ({identifiers:,} distinct identifiers, two columns) under v2: "
            f"{v2_seconds:.1f} s, {e2e_rate:,.0f} identifiers/s; the CLI's own blind + finalize + proof check "
            f"(floor) {floor_rate:,.0f} identifiers/s; ratio {e2e_rate / floor_rate:.2f} (target ≥ 0.5)"
        )
        print(
            f"   v1 tokenize of the same file: {v1_seconds:.1f} s ({args.rows / v1_seconds:,.0f} rows/s); "
            f"v2 takes {v2_seconds / v1_seconds:.0f}× as long"
        )
    finally:
        if gunicorn is not None:
            gunicorn.terminate()
            gunicorn.wait()
        evaluator.terminate()
        evaluator.wait()


if __name__ == "__main__":
    main()
