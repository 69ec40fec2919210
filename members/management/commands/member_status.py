from django.utils.translation import gettext as _

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
        before_label = institution.get_status_display()
        institution = institution_transition(
            actor=self.cli_actor(), institution=institution, to_status=options["to_status"], reason=options["reason"]
        )
        # The codes first, for scripts; then the labels an operator reads.
        self.stdout.write(
            _("%(uscc)s: %(from)s -> %(to)s (moved from %(from_label)s to %(to_label)s)")
            % {
                "uscc": institution.uscc,
                "from": before,
                "to": institution.status,
                "from_label": before_label,
                "to_label": institution.get_status_display(),
            }
        )
