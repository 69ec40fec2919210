from django.core.management.base import CommandError

from members.audit import audit_chain_verify, audit_event_record
from members.management.base import ServiceCommand


class Command(ServiceCommand):
    help = (
        "Walk the hash-chained audit trail. Exits 0 and prints the number of events and the head hash when "
        "the chain is intact; exits 1 naming the first broken event when a row was edited, deleted or reordered."
    )

    def handle(self, *args, **options):
        result = audit_chain_verify()
        audit_event_record(
            actor=self.cli_actor(),
            action="audit.verified",
            payload={"ok": result.ok, "checked": result.checked, "broken_seq": result.broken_seq},
        )
        if not result.ok:
            raise CommandError(f"Audit chain BROKEN at event {result.broken_seq}: {result.problem}.")
        self.stdout.write(f"Audit chain intact: {result.checked} events, head hash {result.head_hash}.")
