from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from members.audit import Actor
from sharing.tlog.services import log_verify


class Command(BaseCommand):
    help = (
        "Recompute the verifiable log from its leaves: every leaf hash, no index missing, the tiles, the root "
        "and every signed checkpoint. Prints each problem and exits 1 on any."
    )

    def handle(self, *args, **options):
        result = log_verify(actor=Actor.system("log_verify command"))
        for problem in result.problems:
            self.stderr.write(problem)
        if not result.ok:
            raise CommandError(_("The log does not verify: %(count)d problem(s).") % {"count": len(result.problems)})
        self.stdout.write(_("The log verifies: %(size)d leaves.") % {"size": result.size})
