import datetime as dt

from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from members.management.base import ServiceCommand
from members.services import credential_issue


class Command(ServiceCommand):
    help = (
        "Issue an API credential to a member institution. The key is printed once, alone on the last line "
        "of standard output; only its digest is stored."
    )

    def add_arguments(self, parser):
        parser.add_argument("--uscc", required=True)
        parser.add_argument(
            "--scopes", required=True, help="Comma-separated: records:write,lookups,reports:read,disputes"
        )
        parser.add_argument("--name", help="What the key is for (default: 'default', in the operators' language).")
        parser.add_argument("--allowed-ips", default="", help="Comma-separated CIDR networks (default: any).")
        parser.add_argument("--expires-days", type=int, help="Days until the key expires (default: never).")

    def handle(self, *args, **options):
        institution = self.institution(options["uscc"])
        expires_at = None
        if options["expires_days"] is not None:
            if options["expires_days"] < 1:
                raise CommandError(_("--expires-days must be at least 1."))
            expires_at = timezone.now() + dt.timedelta(days=options["expires_days"])
        issued = credential_issue(
            actor=self.cli_actor(),
            institution=institution,
            name=options["name"] or pgettext("credential name", "default"),
            scopes=[scope.strip() for scope in options["scopes"].split(",") if scope.strip()],
            allowed_ips=options["allowed_ips"].split(","),
            expires_at=expires_at,
        )
        credential = issued.credential
        self.stdout.write(
            _("Issued %(prefix)s to %(institution)s with scopes %(scopes)s.")
            % {"prefix": credential.prefix, "institution": institution, "scopes": ",".join(credential.scopes)}
        )
        self.stdout.write(_("Store the key now: it cannot be shown again."))
        self.stdout.write(issued.key)
