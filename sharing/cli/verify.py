"""``riskshare verify-report``: check a self-inspection report's signed manifest offline."""

from __future__ import annotations

import argparse
import sys

from sharing.cli.common import CliError, input_file


def verify_report(args: argparse.Namespace) -> int:
    """Check a self-inspection report against the platform's public key; 1 on any mismatch."""
    from sharing.common.crypto import public_key_fingerprint
    from sharing.reports.verify import public_key_load, report_verify, verification_lines

    if bool(args.public_key) == bool(args.base_url):
        raise CliError("give exactly one of --public-key FILE or --base-url URL")
    if args.public_key:
        pem = input_file(args.public_key).read_bytes()
    else:
        import httpx

        url = args.base_url.rstrip("/") + "/api/v1/reports/public-key"
        try:
            response = httpx.get(url, timeout=args.timeout, follow_redirects=True)
        except httpx.TransportError as exc:
            raise CliError(f"cannot fetch the public key from {url}: {exc}") from None
        if response.status_code != 200:
            raise CliError(f"cannot fetch the public key from {url}: HTTP {response.status_code}")
        document = response.json()
        pem = document["public_key_pem"].encode()
        try:
            actual = public_key_fingerprint(public_key_load(pem))
        except ValueError as exc:
            raise CliError(f"the served public key is unusable: {exc}") from None
        if actual != document.get("fingerprint"):
            raise CliError("the served public key does not match its own fingerprint")
        if args.fingerprint and args.fingerprint.lower() != actual:
            raise CliError(f"the served public key has fingerprint {actual}, not the expected {args.fingerprint}")
    try:
        result = report_verify(input_file(args.report).read_bytes(), pem, log_key=args.log_key)
    except ValueError as exc:
        raise CliError(f"unusable public key: {exc}") from None
    for line in verification_lines(result):
        print(line, file=sys.stdout if result.ok else sys.stderr)
    return 0 if result.ok else 1


def verify_subject_report(args: argparse.Namespace) -> int:
    """Check a person's own report (the signed JSON document) against the platform's public key; 1 if it fails."""
    from sharing.subjects.verify import subject_report_verify

    if bool(args.public_key) == bool(args.base_url):
        raise CliError("give exactly one of --public-key FILE or --base-url URL")
    if args.public_key:
        pem = input_file(args.public_key).read_bytes()
    else:
        import httpx

        url = args.base_url.rstrip("/") + "/api/v1/reports/public-key"
        try:
            response = httpx.get(url, timeout=args.timeout, follow_redirects=True)
        except httpx.TransportError as exc:
            raise CliError(f"cannot fetch the public key from {url}: {exc}") from None
        if response.status_code != 200:
            raise CliError(f"cannot fetch the public key from {url}: HTTP {response.status_code}")
        pem = response.json()["public_key_pem"].encode()
    try:
        ok, found = subject_report_verify(input_file(args.report).read_bytes(), pem)
    except ValueError as exc:
        raise CliError(f"unusable public key: {exc}") from None
    print(found, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1
