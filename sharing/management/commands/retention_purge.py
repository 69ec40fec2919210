from django.utils.translation import gettext as _

from core.clock import business_today
from members.management.base import ServiceCommand
from members.models import Institution
from sharing.retention.selectors import lookup_log_due, records_past_retention
from sharing.retention.services import retention_purge


class Command(ServiceCommand):
    help = (
        "Purge what retention allows today (the daily beat job does the same): adverse records five years after "
        "the adverse event ended, retracted records 90 days after retraction, lookup logs past their period, "
        "expired watches 90 days after expiry, monitoring events and webhook deliveries past their period. "
        "With --dry-run, only count records and lookups."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count what would be purged; change nothing.")

    def handle(self, *args, **options):
        today = business_today()
        if options["dry_run"]:
            members = list(Institution.objects.values_list("pk", flat=True))
            records = sum(records_past_retention(member_ids=members, today=today).values())
            lookups = lookup_log_due(today=today)
            self.stdout.write(
                _("Would purge %(records)d record(s) and %(lookups)d lookup(s) on %(day)s.")
                % {"records": records, "lookups": lookups, "day": today.isoformat()}
            )
            return
        result = retention_purge(today=today)
        self.stdout.write(
            _("Purged %(records)d record(s) and %(lookups)d lookup(s) with %(entries)d entries on %(day)s.")
            % {
                "records": result.records,
                "lookups": result.lookups,
                "entries": result.lookup_entries,
                "day": today.isoformat(),
            }
        )
        self.stdout.write(
            _("Purged %(watches)d watch(es), %(events)d monitoring event(s), %(deliveries)d webhook delivery row(s).")
            % {"watches": result.watches, "events": result.events, "deliveries": result.deliveries}
        )
