from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from sharing.common.signing import public_key_pem
from sharing.reports.verify import report_verify, verification_lines


class Command(BaseCommand):
    help = (
        "Verify a self-inspection report ZIP with the platform's configured signing key (or --public-key FILE): "
        "every file's SHA-256 against the manifest, no unlisted file, and the manifest's Ed25519 signature. "
        "Prints each mismatch (file, expected, actual) and exits 1 on any."
    )

    def add_arguments(self, parser):
        parser.add_argument("report", help="the report ZIP")
        parser.add_argument("--public-key", help="a PEM public key file instead of the configured key")

    def handle(self, *args, **options):
        try:
            data = Path(options["report"]).read_bytes()
            key = Path(options["public_key"]).read_bytes() if options["public_key"] else public_key_pem()
            result = report_verify(data, key)
        except (OSError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        for line in verification_lines(result):
            (self.stdout if result.ok else self.stderr).write(line)
        if not result.ok:
            raise CommandError(_("The report does not match its signed manifest."))
