from django.utils.translation import gettext as _

from members.management.base import ServiceCommand
from sharing.tokens.services import consortium_key_retire


class Command(ServiceCommand):
    help = (
        "Retire a consortium key version after a rotation: submissions and lookups naming it are refused from "
        "then on. The last current version cannot be retired."
    )

    def add_arguments(self, parser):
        parser.add_argument("--key-version", type=int, required=True, dest="key_version")
        parser.add_argument("--reason", required=True)

    def handle(self, *args, **options):
        record = consortium_key_retire(actor=self.cli_actor(), version=options["key_version"], reason=options["reason"])
        self.stdout.write(_("Key version %(v)s retired.") % {"v": record.version})
