from django.core.management.base import CommandError
from django.utils.translation import gettext as _

from members.audit import audit_chain_verify, audit_event_record, audit_verified_payload, audit_verified_text
from members.management.base import ServiceCommand


class Command(ServiceCommand):
    help = (
        "Chain the events waiting for their place, then verify the hash-chained audit trail from the last verified "
        "head (--full: from the first event). Exits 0 and prints the events checked and the head hash when the "
        "chain is intact; exits 1 naming the first broken event when a row was edited, deleted, inserted or "
        "reordered."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--full", action="store_true", help="Walk the whole chain from its first event, not only what is new."
        )

    def handle(self, *args, **options):
        result = audit_chain_verify(full=options["full"])
        audit_event_record(actor=self.cli_actor(), action="audit.verified", payload=audit_verified_payload(result))
        if not result.ok:
            raise CommandError(
                _("Audit chain BROKEN at event %(seq)s: %(problem)s")
                % {"seq": result.broken_seq, "problem": result.problem}
            )
        self.stdout.write(audit_verified_text(result))
        if result.unchained.stalled:
            self.stderr.write(
                _(
                    "%(count)d events are still waiting to be chained, the oldest since %(since)s: "
                    "is the sequencer running?"
                )
                % {"count": result.unchained.events, "since": result.unchained.oldest.isoformat()}
            )
