"""``riskshare alerts``: list the member's alerts, acknowledge one."""

from __future__ import annotations

import argparse
import sys

from sharing.cli.common import api_client, http_options


def register(commands, formatter: type[argparse.HelpFormatter]) -> None:
    alerts = commands.add_parser(
        "alerts",
        allow_abbrev=False,
        formatter_class=formatter,
        help="list alerts (GET /api/v1/alerts) and acknowledge them",
        description="Alerts about disputes against your records, the outcome of yours, and corrections to data "
        "your lookups relied on. API key from RISKSHARE_API_KEY.",
    )
    actions = alerts.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", formatter_class=formatter, help="one line per alert: id, time, kind")
    listing.add_argument("--all", action="store_true", help="acknowledged ones too (default: unacknowledged only)")
    http_options(listing)
    listing.set_defaults(handler=alerts_list)
    ack = actions.add_parser("ack", formatter_class=formatter, help="acknowledge the alert with this id")
    ack.add_argument("alert_id", type=int, help="the id that `riskshare alerts list` shows")
    http_options(ack)
    ack.set_defaults(handler=alerts_ack)


def alerts_list(args: argparse.Namespace) -> int:
    client = api_client(args)
    params = {} if args.all else {"unacknowledged": "true"}
    shown = 0
    try:
        path = "/api/v1/alerts"
        while path:
            page = client.get(path, params)
            for alert in page.get("results", []):
                print(f"{alert.get('id')}\t{alert.get('created_at')}\t{alert.get('kind')}")
                shown += 1
            following = page.get("next") or ""
            # The next page's address is absolute; the client speaks paths relative to --url.
            path = following[following.index("/api/") :] if "/api/" in following else ""
            params = None
    finally:
        client.close()
    print(f"riskshare: {shown} alert(s)", file=sys.stderr)
    return 0


def alerts_ack(args: argparse.Namespace) -> int:
    client = api_client(args)
    try:
        client.post(f"/api/v1/alerts/{args.alert_id}/ack", b"")
    finally:
        client.close()
    print(f"riskshare: alert {args.alert_id} acknowledged", file=sys.stderr)
    return 0
