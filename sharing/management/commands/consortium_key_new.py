from pathlib import Path

from django.core.management.base import CommandError
from django.db import transaction
from django.utils.translation import gettext as _

from members.management.base import ServiceCommand
from sharing.tokens.keyfile import KeyFileError, key_file_write
from sharing.tokens.services import consortium_key_create


class Command(ServiceCommand):
    help = (
        "Create the next consortium key version: 32 random bytes written to a new key file (mode 0600) for "
        "distribution to members out of band, and the version registered as current. The platform keeps only "
        "the version and a check value, never the key."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--out", help="Key file to create (default: consortium-key-v<N>.json in the current directory)."
        )

    def handle(self, *args, **options):
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
