"""``riskshare batches``: where a submitted batch stands."""

from __future__ import annotations

import argparse

from sharing.cli.common import api_client, http_options


def register(commands, formatter: type[argparse.HelpFormatter]) -> None:
    batches = commands.add_parser(
        "batches",
        allow_abbrev=False,
        formatter_class=formatter,
        help="the status of submitted batches (GET /api/v1/batches/{id})",
        description="Status and counts of batches you submitted: received, processing, done (matched) or failed. "
        "The ids are in the state file of `riskshare submit`. API key from RISKSHARE_API_KEY.",
    )
    actions = batches.add_subparsers(dest="action", required=True, metavar="ACTION")
    status = actions.add_parser("status", formatter_class=formatter, help="one line per batch")
    status.add_argument("batch_id", type=int, nargs="+", help="batch id(s)")
    http_options(status)
    status.set_defaults(handler=batches_status)


def batches_status(args: argparse.Namespace) -> int:
    client = api_client(args)
    try:
        for batch_id in args.batch_id:
            batch = client.get(f"/api/v1/batches/{batch_id}")
            print(
                f"{batch['id']}\t{batch['status']}\treceived {batch['received']}\taccepted {batch['accepted']}"
                f"\trejected {batch['rejected']}"
            )
    finally:
        client.close()
    return 0
