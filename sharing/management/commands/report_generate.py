import datetime as dt

from django.core.management.base import CommandError
from django.utils.translation import gettext as _

from members.management.base import ServiceCommand
from members.models import Institution
from sharing.reports.services import previous_month, reports_generate


class Command(ServiceCommand):
    help = (
        "Generate (or regenerate) self-inspection reports now, from one database snapshot: one member (--uscc) "
        "or every active member (--all-active), for the previous month or --start/--end (end exclusive)."
    )

    def add_arguments(self, parser):
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--uscc", action="append", default=[], help="a member's USCC; repeat for several")
        who.add_argument("--all-active", action="store_true", dest="all_active")
        parser.add_argument("--start", type=dt.date.fromisoformat, help="first day, YYYY-MM-DD")
        parser.add_argument("--end", type=dt.date.fromisoformat, help="day after the last day, YYYY-MM-DD")

    def handle(self, *args, **options):
        if bool(options["start"]) != bool(options["end"]):
            raise CommandError(_("Give both --start and --end, or neither (the previous month)."))
        start, end = (options["start"], options["end"]) if options["start"] else previous_month()
        if options["all_active"]:
            members = list(Institution.objects.filter(status=Institution.Status.ACTIVE).order_by("pk"))
        else:
            members = [self.institution(uscc) for uscc in options["uscc"]]
        reports = reports_generate(members=members, period_start=start, period_end=end, actor=self.cli_actor())
        for report in reports:
            self.stdout.write(
                f"{report.pk}\t{report.member_id}\t{report.period_start}\t{report.period_end}\t{report.sha256}"
            )
