from members.management.base import ServiceCommand
from members.models import Institution
from members.services import institution_transition


class Command(ServiceCommand):
    help = "Move a member institution through its lifecycle (e.g. --to suspended), with a reason."

    def add_arguments(self, parser):
        parser.add_argument("--uscc", required=True)
        parser.add_argument("--to", required=True, choices=Institution.Status.values, dest="to_status")
        parser.add_argument("--reason", required=True)

    def handle(self, *args, **options):
        institution = self.institution(options["uscc"])
        before = institution.status
        institution = institution_transition(
            actor=self.cli_actor(), institution=institution, to_status=options["to_status"], reason=options["reason"]
        )
        self.stdout.write(f"{institution.uscc}: {before} -> {institution.status}")
