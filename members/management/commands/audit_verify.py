from django.core.management.base import CommandError
from django.utils.translation import gettext as _

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
            raise CommandError(
                _("Audit chain BROKEN at event %(seq)s: %(problem)s")
                % {"seq": result.broken_seq, "problem": result.problem}
            )
        self.stdout.write(
            _("Audit chain intact: %(count)d events, head hash %(hash)s.")
            % {"count": result.checked, "hash": result.head_hash}
        )
