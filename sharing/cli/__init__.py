"""``riskshare``: the member's command-line client.

Runs on a member's own machines; raw identifiers never leave them.

    riskshare tokenize IN.csv -o OUT.csv --key-file KEY.json --column id_number=cn_resident_id ...     (v1)
    riskshare keys fetch -o keys.json --url ...  /  riskshare tokenize IN.csv -o OUT.csv --keys keys.json ...  (v2)
    riskshare selftest
    riskshare submit RECORDS.csv --url https://riskshare.example     (RISKSHARE_API_KEY in the environment)
    riskshare lookup TOKENS.csv --purpose credit_application --consent-column consent --url ... -o RESULTS.csv
    riskshare verify-report REPORT.zip (--public-key KEY.pem | --base-url https://riskshare.example)
    riskshare verify-subject-report SR….json (--public-key KEY.pem | --base-url https://riskshare.example)
    riskshare alerts list | riskshare alerts ack ID
    riskshare batches status ID...
    riskshare log verify --key NAME+ID+KEY --state log.state.json [--records RECORDS.jsonl] [--submitted STATE ...]
    riskshare watch add WATCHES.csv --consent-reference CONSENT-1 --url ...   /   riskshare watch remove LOAN-1 ...
    riskshare events --follow --state events.state.json --url ...

--url defaults to $RISKSHARE_URL.

Errors are one line on stderr and a non-zero exit code (2 for usage, 1 otherwise).
"""

from __future__ import annotations

import argparse
import csv
import importlib
import os
import sys

from sharing.cli.common import MAX_BATCH, CliError, cli_version, csv_options, http_options
from sharing.cli.events import events
from sharing.cli.lookup import lookup
from sharing.cli.submit import submit
from sharing.cli.tokenize import tokenize
from sharing.cli.verify import verify_report, verify_subject_report
from sharing.cli.watch import watch_add, watch_remove
from sharing.tokens.identifiers import ID_TYPES


class _Formatter(argparse.HelpFormatter):
    """Every option's default in --help, where it has one and its help does not already say it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, False, [], argparse.SUPPRESS) or not action.option_strings:
            return text
        return text + " (default: %(default)s)"


# Commands that live in a module of their own, each with ``register(commands, formatter)``: a new
# command is a new module and a line here.
COMMAND_MODULES = ("sharing.cli.alerts", "sharing.cli.batches", "sharing.cli.keys", "sharing.cli.log")


def build_parser() -> argparse.ArgumentParser:
    # allow_abbrev=False: "--key <hex>" must be an error, not an abbreviation of --key-file.
    parser = argparse.ArgumentParser(
        prog="riskshare",
        allow_abbrev=False,
        formatter_class=_Formatter,
        description="Member client of riskshare: tokenize identifiers locally, submit records, look up subjects.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {cli_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common_csv, common_http = csv_options, http_options

    tok = commands.add_parser(
        "tokenize",
        allow_abbrev=False,
        formatter_class=_Formatter,
        help="replace raw identifier columns by tokens",
        description=(
            "Replace each mapped raw identifier column of a CSV file by its token column 'token:<type>' "
            "and add a key_version column. Under a v1 key file (--key-file): HMAC-SHA256 under the consortium "
            "key, computed here. Under a v2 key version (--keys, the file `riskshare keys fetch` wrote): each "
            "type's distinct values are blinded here, evaluated by the platform (POST /api/v1/tokens/evaluate, "
            "counted against your limits), the proof checked against the pinned public key (a bad proof stops "
            "the run) and finalized here; resumable through OUTPUT.state.json. Rows with an invalid "
            "identifier go to IN.rejects.csv (beside the input) with row number, column and reason code, never the "
            "raw value. "
            "Empty cells stay empty; a row with no identifier at all is rejected (no_identifier). Streams input "
            "of any size; shows progress on a terminal. The key is read from --key-file or "
            "RISKSHARE_CONSORTIUM_KEY_FILE, never from the command line."
        ),
    )
    tok.add_argument("input", help="input CSV with a header row")
    tok.add_argument("-o", "--output", required=True, help="output CSV")
    tok.add_argument("--key-file", help="v1: consortium key file (JSON: version, key)")
    tok.add_argument("--keys", help="v2: keys file written by `riskshare keys fetch` ($RISKSHARE_TOKEN_KEYS_FILE)")
    tok.add_argument("--key-version", type=int, help="v2: the key version (default: the newest current v2 one)")
    tok.add_argument("--url", default=os.environ.get("RISKSHARE_URL") or None, help="v2: riskshare base URL")
    tok.add_argument("--state", help="v2: resume state (default: OUTPUT.state.json)")
    tok.add_argument("--max-retries", type=int, default=8, help="v2: retries on network errors, 5xx and 429")
    tok.add_argument("--timeout", type=float, default=120.0, help="v2: seconds per request")
    tok.add_argument(
        "--column",
        action="append",
        default=[],
        metavar="NAME=TYPE",
        help=f"map a column to an identifier type ({', '.join(ID_TYPES)}); repeat for each column",
    )
    tok.add_argument(
        "--jobs",
        type=int,
        default=1,
        help=f"processes that compute tokens (this machine has {os.cpu_count() or 1} cores)",
    )
    common_csv(tok)
    tok.set_defaults(handler=tokenize)

    sub = commands.add_parser(
        "submit",
        allow_abbrev=False,
        formatter_class=_Formatter,
        help="send tokenized records to POST /api/v1/batches",
        description=(
            "Send records (CSV with the submission API's field names and token:<type> columns, or JSON Lines in "
            "the API's shape) in batches of at most 10,000. Each batch carries an Idempotency-Key derived from its "
            "content, so re-running after a crash never duplicates anything; finished batches are remembered in a "
            "state file and skipped. Per-record rejections are appended to a CSV. API key from RISKSHARE_API_KEY."
        ),
    )
    sub.add_argument("input", help="records file (.csv, or .jsonl/.ndjson)")
    sub.add_argument("--batch-size", type=int, default=MAX_BATCH, help="records per request")
    sub.add_argument("--wait", action="store_true", help="after sending, wait until matching has finished")
    sub.add_argument("--wait-timeout", type=float, default=600.0, help="seconds --wait waits at most")
    sub.add_argument("--state", help="state file (default: INPUT.state.json)")
    sub.add_argument(
        "--rejects", help="rejections file (default: the input's name with .rejects.csv, e.g. records.rejects.csv)"
    )
    common_http(sub)
    common_csv(sub)
    sub.set_defaults(handler=submit)

    look = commands.add_parser(
        "lookup",
        allow_abbrev=False,
        formatter_class=_Formatter,
        help="look up tokenized subjects through POST /api/v1/lookups",
        description=(
            "Look up every token:<type> cell of a CSV (the output of tokenize) and write one result row per "
            "identifier. Purposes credit_application and account_opening need the subject's consent reference: "
            "from --consent-column (per row) or --consent-reference (whole file); rows sharing one are sent together. "
            "Resumable: after an interruption the same command sends only the requests not yet answered (each "
            "lookup is logged and counted). API key from RISKSHARE_API_KEY."
        ),
    )
    look.add_argument("input", help="CSV with token:<type> columns")
    look.add_argument(
        "--purpose",
        required=True,
        choices=["credit_application", "account_opening", "post_loan_monitoring", "fraud_investigation"],
    )
    look.add_argument("--consent-column", help="column holding each row's consent reference")
    look.add_argument("--consent-reference", help="one consent reference for every row")
    look.add_argument("--key-column", help="a column of yours (e.g. application number) copied into each result row")
    look.add_argument("--key-version", type=int, help="key version when the file has no key_version column")
    look.add_argument("-o", "--output", required=True, help="results CSV")
    look.add_argument("--state", help="resume state (default: OUTPUT.state.json)")
    common_http(look)
    common_csv(look)
    look.set_defaults(handler=lookup)

    ver = commands.add_parser(
        "verify-report",
        allow_abbrev=False,
        formatter_class=_Formatter,
        help="verify a self-inspection report ZIP and its signature",
        description=(
            "Check every file of a report ZIP against the SHA-256 listed in its manifest.json, that no unlisted "
            "file is present, and the manifest's Ed25519 signature (manifest.sig) with the platform's public key, "
            "from a PEM file or fetched from GET /api/v1/reports/public-key. Prints each mismatch with the file, "
            "the expected and the actual value; exits 1 on any mismatch."
        ),
    )
    ver.add_argument("report", help="the report ZIP")
    ver.add_argument("--public-key", help="the platform's public key (PEM file)")
    ver.add_argument("--base-url", help="riskshare base URL to fetch the public key from")
    ver.add_argument("--fingerprint", help="expected key fingerprint (hex), checked when fetching")
    ver.add_argument("--timeout", type=float, default=30.0, help="seconds for the key request")
    ver.add_argument(
        "--log-key",
        default=os.environ.get("RISKSHARE_LOG_KEY") or None,
        help="the log's verifier key, to check the report's log checkpoint with (default: $RISKSHARE_LOG_KEY, "
        "else the key the report names)",
    )
    ver.set_defaults(handler=verify_report)

    subject = commands.add_parser(
        "verify-subject-report",
        allow_abbrev=False,
        formatter_class=_Formatter,
        help="verify a person's own report (本人查询, the signed JSON document)",
        description=(
            "Check the Ed25519 signature of a data subject's report, issued at the platform's desk, with the "
            "platform's report key, from a PEM file or fetched from GET /api/v1/reports/public-key. Exits 1 if "
            "the document was changed after signing or was signed with another key."
        ),
    )
    subject.add_argument("report", help="the report's JSON document")
    subject.add_argument("--public-key", help="the platform's public key (PEM file)")
    subject.add_argument("--base-url", help="riskshare base URL to fetch the public key from")
    subject.add_argument("--timeout", type=float, default=30.0, help="seconds for the key request")
    subject.set_defaults(handler=verify_subject_report)
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(commands, _Formatter)
    monitoring_commands(commands, common_http, common_csv)
    return parser


def monitoring_commands(commands, common_http, common_csv) -> None:
    """``watch add``, ``watch remove`` and ``events``: post-loan monitoring."""
    watch = commands.add_parser("watch", allow_abbrev=False, help="register or remove post-loan watches")
    watch_commands = watch.add_subparsers(dest="watch_command", required=True, metavar="ACTION")
    add = watch_commands.add_parser(
        "add",
        allow_abbrev=False,
        help="send tokenized watches to POST /api/v1/watches",
        description=(
            "Send watches (CSV with a reference column, an expiry column and token:<type> columns, as tokenize "
            "writes them) in requests of at most 10,000, each with an Idempotency-Key derived from its content; "
            "finished requests are remembered in a state file, so a re-run resumes. A reference sent again "
            "replaces its watch. Rejections go to a CSV. API key from RISKSHARE_API_KEY."
        ),
    )
    add.add_argument("input", help="watches CSV")
    add.add_argument("--consent-reference", required=True, help="the post-loan consent reference of these watches")
    add.add_argument("--reference-column", default="reference")
    add.add_argument("--expiry-column", default="expires_on", help="YYYY-MM-DD column (default expires_on)")
    add.add_argument("--key-version", type=int, help="key version when the file has no key_version column")
    add.add_argument("--batch-size", type=int, default=MAX_BATCH)
    add.add_argument("--state", help="state file (default: INPUT.state.json)")
    add.add_argument("--rejects", help="rejections file (default: INPUT.rejects.csv)")
    common_http(add)
    common_csv(add)
    add.set_defaults(handler=watch_add)
    remove = watch_commands.add_parser("remove", allow_abbrev=False, help="remove watches (the loans ended)")
    remove.add_argument("references", nargs="+", metavar="REFERENCE")
    common_http(remove)
    remove.set_defaults(handler=watch_remove)

    feed = commands.add_parser(
        "events",
        allow_abbrev=False,
        help="print monitoring events as JSON Lines",
        description=(
            "Read GET /api/v1/monitoring/events from the cursor in the state file and print each event as one "
            "JSON line; the cursor is saved after each page. With --output the lines are appended to a file "
            "and a restart neither loses nor repeats an event. --follow keeps polling."
        ),
    )
    feed.add_argument("--state", default="riskshare-events.state.json", help="cursor file")
    feed.add_argument("--output", help="append to this file instead of standard output")
    feed.add_argument("--follow", action="store_true", help="keep polling for new events")
    feed.add_argument("--interval", type=float, default=5.0, help="seconds between polls when caught up")
    common_http(feed)
    feed.set_defaults(handler=events)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except CliError as exc:
        print(f"riskshare: error: {exc}", file=sys.stderr)
        return 1
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        print(f"riskshare: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("riskshare: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
