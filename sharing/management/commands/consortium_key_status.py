from django.utils.translation import gettext as _

from members.management.base import ServiceCommand
from sharing.evaluations.selectors import key_version_progress


class Command(ServiceCommand):
    help = (
        "How far each member has moved between the current key versions: its standing records and watches under "
        "each. Retire the old version once no member has any left under it (consortium_key_retire)."
    )

    def handle(self, *args, **options):
        rows = key_version_progress()
        if not rows:
            self.stdout.write(_("No standing records or watches under any current key version."))
            return
        self.stdout.write(_("member\tUSCC\tkey version\tscheme\trecords\twatches"))
        for row in rows:
            self.stdout.write(f"{row.member}\t{row.uscc}\tv{row.version}\t{row.scheme}\t{row.records}\t{row.watches}")
