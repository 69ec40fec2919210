"""What every script under bench/ shares: ``--smoke``, the platform's secrets, quiet logs.

Imported as ``bench.common``: the project root is on the path (bench/ itself is taken off it by each
script, as its tokenize.py would shadow the standard library's).
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# A database this checkout has migrated, that every benchmark database made on the same server copies
# (tests/test_bench.py names one: one migrate for all the smoke runs, where each of ~15 databases paid its own).
TEMPLATE = "RISKSHARE_BENCH_TEMPLATE"

# A benchmark prints its figures. Its servers and clients would also log every request at INFO
# (Django's and Celery's loggers, httpx's "HTTP Request:" line, gunicorn's access log), and whitenoise
# warns at start-up that collectstatic never ran: not in a run.
QUIET = {
    "LOG_LEVEL": "WARNING",
    "GUNICORN_ACCESSLOG": "/dev/null",
    "PYTHONWARNINGS": "ignore:No directory at:UserWarning",
}


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None = None, **smoke) -> argparse.Namespace:
    """The arguments, with ``--smoke``: the sizes in ``smoke`` unless given on the command line.

    A smoke run takes seconds and goes through every step of the script, so that a change of schema or
    of an API cannot break a benchmark unseen (tests/test_bench.py runs every script so); its figures
    mean nothing.
    """
    sizes = ", ".join(f"--{name.replace('_', '-')} {value}" for name, value in smoke.items())
    parser.add_argument("--smoke", action="store_true", help=f"tiny sizes ({sizes}); the figures mean nothing")
    args = parser.parse_args(argv)
    if args.smoke:
        parser.set_defaults(**smoke)
        args = parser.parse_args(argv)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return args


def secrets_env() -> dict[str, str]:
    """Production mode's secrets for the platform a benchmark runs: throwaway signing keys, and a fixed
    SECRET_KEY and pepper, so that a run with --skip-load finds the tokens a previous run loaded."""
    from tests.environment import production_secrets

    return {
        **production_secrets(),
        "SECRET_KEY": "bench-" + "s" * 50,
        "RISKSHARE_PEPPER": "bench-pepper-" + "p" * 40,
        **QUIET,
    }


def fresh_database(connection, name: str, *, checkout: Path = ROOT) -> None:
    """``name`` afresh on the server of ``connection`` (autocommit, to another database): empty, or a copy of
    $RISKSHARE_BENCH_TEMPLATE for this checkout's own migrations, the ``migrate`` that follows then having
    nothing to apply. Another checkout (bench/ab_ingest.py's sides) migrates its own schema into an empty one."""
    template = os.environ.get(TEMPLATE) if Path(checkout).resolve() == ROOT else None
    connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    connection.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
