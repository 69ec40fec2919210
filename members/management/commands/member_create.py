import datetime as dt

from django.utils.translation import gettext as _

from members.audit import Actor
from members.management.base import ServiceCommand
from members.models import Institution
from members.services import institution_create, institution_transition


class Command(ServiceCommand):
    help = (
        "Create a member institution (status 'applicant'). With --activate it is moved through review to "
        "'active' at once, which needs --licence-number and --licence-expiry. Prints the institution's id."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--uscc", required=True, help="Unified social credit code (18 characters).")
        parser.add_argument("--kind", required=True, choices=Institution.Kind.values)
        parser.add_argument("--contact-name", default="")
        parser.add_argument("--contact-email", default="")
        parser.add_argument("--contact-phone", default="")
        parser.add_argument("--licence-number", default="")
        parser.add_argument("--licence-expiry", type=dt.date.fromisoformat, help="YYYY-MM-DD")
        parser.add_argument("--activate", action="store_true", help="Review and activate in the same step.")

    def handle(self, *args, **options):
        actor: Actor = self.cli_actor()
        institution = institution_create(
            actor=actor,
            name=options["name"],
            uscc=options["uscc"],
            kind=options["kind"],
            contact_name=options["contact_name"],
            contact_email=options["contact_email"],
            contact_phone=options["contact_phone"],
            licence_number=options["licence_number"],
            licence_expiry=options["licence_expiry"],
        )
        if options["activate"]:
            for status in (Institution.Status.UNDER_REVIEW, Institution.Status.ACTIVE):
                institution = institution_transition(
                    actor=actor, institution=institution, to_status=status, reason=_("activated by member_create")
                )
        self.stderr.write(
            _("Created %(institution)s with status %(status)s.")
            % {"institution": institution, "status": institution.get_status_display()}
        )
        self.stdout.write(str(institution.pk))
