from django.utils.translation import gettext as _

from members.management.base import ServiceCommand
from sharing.evaluations.services import retired_key_records_withdraw
from sharing.tokens.selectors import key_version_retired
from sharing.tokens.services import consortium_key_retire


class Command(ServiceCommand):
    help = (
        "Retire a key version after a move to another: submissions, lookups, watches and evaluations naming it "
        "are refused from then on. The last current version cannot be retired. With --withdraw-remaining, the "
        "standing records still under it (their members did not re-key them) are retracted, with a reason "
        "saying so: nobody can match their tokens any more. consortium_key_status shows them first."
    )

    def add_arguments(self, parser):
        parser.add_argument("--key-version", type=int, required=True, dest="key_version")
        parser.add_argument("--reason", required=True)
        parser.add_argument(
            "--withdraw-remaining",
            action="store_true",
            help="Retract the standing records still under the version (also on an already retired version).",
        )

    def handle(self, *args, **options):
        version = options["key_version"]
        if not (options["withdraw_remaining"] and key_version_retired(version=version)):
            consortium_key_retire(actor=self.cli_actor(), version=version, reason=options["reason"])
            self.stdout.write(_("Key version %(v)s retired.") % {"v": version})
        if options["withdraw_remaining"]:
            count = retired_key_records_withdraw(actor=self.cli_actor(), version=version)
            self.stdout.write(
                _("%(n)s standing record(s) under key version %(v)s retracted.") % {"n": count, "v": version}
            )
