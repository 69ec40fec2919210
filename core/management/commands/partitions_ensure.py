from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from core.partitions import partitions_ensure, partitions_horizon


class Command(BaseCommand):
    help = (
        "Create the monthly partitions of the logs from this month to RISKSHARE_PARTITION_MONTHS_AHEAD months "
        "ahead (what the hourly job and every migrate do), move rows found in a default partition into their "
        "month, and print each table's horizon. Idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--months-back",
            type=int,
            default=0,
            help="Also create this many months before this one (a history to load).",
        )

    def handle(self, *args, **options):
        result = partitions_ensure(months_back=options["months_back"])
        for name in result.created:
            self.stdout.write(_("created %(partition)s") % {"partition": name})
        for table, rows in result.strays.items():
            self.stderr.write(
                _("%(table)s: %(rows)d rows had no monthly partition; moved into their months")
                % {"table": table, "rows": rows}
            )
        for horizon in partitions_horizon():
            self.stdout.write(
                _("%(table)s: partitions up to %(month)s, %(rows)d rows in the default partition")
                % {
                    "table": horizon.table,
                    "month": f"{horizon.last_month:%Y-%m}" if horizon.last_month else "—",
                    "rows": horizon.default_rows,
                }
            )
