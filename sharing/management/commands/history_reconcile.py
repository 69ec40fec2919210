from django.core.management.base import CommandError
from django.utils.translation import gettext as _

from core.witness import witness_read, witness_update
from members.history import RUNBOOK, audit_head, holds_open, holds_release
from members.management.base import ServiceCommand
from members.models import HistoryHold
from sharing.tlog.history import history_check, history_record


class Command(ServiceCommand):
    help = (
        "Release the holds that history_check put on the audit chain and the verifiable log after a restore. "
        "Refused while the log does not extend its recorded checkpoint (restore to a later point first). "
        "--accept-audit-loss continues the audit chain from the database's head, with an event naming the lost one."
    )

    def add_arguments(self, parser):
        parser.add_argument("--reason", required=True, help="Why, for the audit trail.")
        parser.add_argument("--accept-audit-loss", action="store_true")

    def handle(self, *args, reason: str, accept_audit_loss: bool, **options):
        problems = history_check()
        if HistoryHold.Kind.VERIFIABLE_LOG in problems:
            raise CommandError(
                _(
                    "The verifiable log still does not extend the checkpoint members were shown; signing now "
                    "would publish a second history. Restore to a later point (the latest) and run history_check "
                    "(%(runbook)s)."
                )
                % {"runbook": RUNBOOK}
            )
        if HistoryHold.Kind.AUDIT_CHAIN in problems and not accept_audit_loss:
            raise CommandError(
                _(
                    "The audit chain still lacks its recorded head. Restore to a later point, or continue from the "
                    "database's head with --accept-audit-loss (%(runbook)s)."
                )
                % {"runbook": RUNBOOK}
            )
        held = holds_open()
        if not held:
            self.stdout.write(_("Nothing is held."))
            return
        recorded = witness_read()
        holds_release(
            kinds=held,
            actor=self.cli_actor(),
            reason=reason,
            payload={"recorded": recorded, "found": {str(kind): found for kind, found in problems.items()}},
        )
        if HistoryHold.Kind.AUDIT_CHAIN in problems:
            # The chain now continues from the database's head, and says so in the event just appended.
            head = audit_head()
            witness_update("audit", lambda current: head)
        history_record()
        self.stdout.write(_("Released: %(held)s.") % {"held": ", ".join(sorted(held))})
