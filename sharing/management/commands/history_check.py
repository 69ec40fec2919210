from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from members.history import RUNBOOK, holds_open
from sharing.tlog.history import history_check, history_record


class Command(BaseCommand):
    help = (
        "Check the audit chain and the verifiable log against the heads recorded outside the database "
        "(RISKSHARE_HISTORY_WITNESS). Run it after every restore, before starting the web and worker processes. "
        "Exits 0 when both continue their recorded heads; otherwise holds them and exits 1."
    )

    def handle(self, *args, **options):
        problems = history_check()
        for kind, found in problems.items():
            self.stderr.write(
                _("%(history)s does not continue its recorded head: %(found)s") % {"history": kind, "found": found}
            )
        held = holds_open()
        if held:
            raise CommandError(
                _("Held: %(held)s. Nothing is appended or signed until an operator reconciles (%(runbook)s).")
                % {"held": ", ".join(sorted(held)), "runbook": RUNBOOK}
            )
        history_record()
        self.stdout.write(_("Both histories continue the heads recorded outside the database."))
