from django.core.management.base import BaseCommand

from sharing.tlog.signing import log_verifier_key


class Command(BaseCommand):
    help = (
        "Print the verifiable log's verifier key (C2SP signed-note form, <name>+<key id>+<key>), "
        "for operators to publish out of band; members pin it in `riskshare log verify --key`."
    )

    def handle(self, *args, **options):
        self.stdout.write(log_verifier_key())
