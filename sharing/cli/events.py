"""``riskshare events``: the monitoring feed as JSON Lines, with its cursor kept in a state file.

With ``--output`` the events are appended to a file and the state records the file's length with the
cursor: a restart first cuts the file back to that length, so an event is neither lost nor written twice
however the previous run ended. On standard output an interrupted page may be printed again.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from sharing.cli.common import CliError, api_client

PAGE = 1000


def _state_read(path: Path) -> dict:
    if not path.exists():
        return {"after": 0, "output_size": 0}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise CliError(f"state file {path} is not valid JSON") from None


def _state_write(path: Path, state: dict) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(state), encoding="utf-8")
    temporary.replace(path)


def events(args: argparse.Namespace) -> int:
    state_path = Path(args.state)
    state = _state_read(state_path)
    out = sys.stdout
    if args.output:
        out = open(args.output, "a+b")  # noqa: SIM115 - closed below
        out.truncate(state.get("output_size", 0))  # what a run cut short wrote after its last saved cursor
        out.seek(0, os.SEEK_END)
    client = api_client(args)
    written = 0
    try:
        while True:
            page = client.get("/api/v1/monitoring/events", params={"after": state["after"], "page_size": PAGE})
            results = page.get("results", [])
            for event in results:
                line = json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n"
                if args.output:
                    out.write(line.encode())
                else:
                    out.write(line)
            if results:
                out.flush()
                if args.output:
                    os.fsync(out.fileno())
                    state["output_size"] = out.tell()
                state["after"] = results[-1]["id"]
                _state_write(state_path, state)
                written += len(results)
                continue
            if not args.follow:
                break
            time.sleep(args.interval)
    finally:
        client.close()
        if args.output:
            out.close()
    print(f"riskshare: {written} event(s); cursor {state['after']} in {state_path}", file=sys.stderr)
    return 0
