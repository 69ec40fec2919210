from django.core.management.base import CommandError
from django.utils.translation import gettext as _

from members.management.base import ServiceCommand
from members.selectors import credential_by_prefix
from members.services import credential_revoke


class Command(ServiceCommand):
    help = "Revoke an API credential, named by its visible prefix (rsk_…), with a reason. Takes effect at once."

    def add_arguments(self, parser):
        parser.add_argument("--prefix", required=True)
        parser.add_argument("--reason", required=True)

    def handle(self, *args, **options):
        credential = credential_by_prefix(prefix=options["prefix"])
        if credential is None:
            raise CommandError(_("No credential has the prefix %(prefix)s.") % {"prefix": options["prefix"]})
        credential_revoke(actor=self.cli_actor(), credential=credential, reason=options["reason"])
        self.stdout.write(_("Revoked %(prefix)s.") % {"prefix": credential.prefix})
