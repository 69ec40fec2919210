from pathlib import Path

from django.core.management.base import CommandError
from django.db import transaction
from django.utils.translation import gettext as _

from core.errors import DomainError
from members.management.base import ServiceCommand
from sharing.tokens.keyfile import KeyFileError, key_file_write
from sharing.tokens.services import consortium_key_create, voprf_key_create


class Command(ServiceCommand):
    help = (
        "Create the next key version. --scheme hmac-v1 (the default): 32 random bytes written to a new key file "
        "(mode 0600) for distribution to members out of band; the platform keeps only the version and a check "
        "value, never the key. --scheme voprf-v2: the token evaluator creates and keeps the seed; only the "
        "per-type public keys are registered, and members fetch them from GET /api/v1/tokens/keys. Either way "
        "the version is current next to the existing ones until those are retired."
    )

    def add_arguments(self, parser):
        parser.add_argument("--scheme", choices=["hmac-v1", "voprf-v2"], default="hmac-v1")
        parser.add_argument(
            "--out", help="hmac-v1: key file to create (default: consortium-key-v<N>.json in the current directory)."
        )

    def handle(self, *args, **options):
        if options["scheme"] == "voprf-v2":
            if options["out"]:
                raise CommandError(_("A v2 key has no file to hand out: its seed stays in the token evaluator."))
            try:
                record = voprf_key_create(actor=self.cli_actor())
            except DomainError as exc:
                raise CommandError(exc.message) from exc
            self.stdout.write(
                _(
                    "Key version %(v)s (voprf-v2) created, check value %(cv)s; its seed is in the token evaluator. "
                    "Members fetch its public keys with: riskshare keys fetch"
                )
                % {"v": record.version, "cv": record.check_value}
            )
            return
        with transaction.atomic():
            record, material = consortium_key_create(actor=self.cli_actor())
            path = Path(options["out"] or f"consortium-key-v{record.version}.json")
            try:
                # Inside the transaction: if the file cannot be written, the version is not registered.
                key_file_write(path, material)
            except (KeyFileError, OSError) as exc:
                raise CommandError(str(exc)) from exc
        self.stdout.write(
            _("Key version %(v)s created, check value %(cv)s, written to %(path)s. Distribute it out of band.")
            % {"v": record.version, "cv": record.check_value, "path": path}
        )
