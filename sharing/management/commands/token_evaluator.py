import os
import sys

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Run the token evaluator in the foreground (the one process that holds the v2 key seeds): this process "
        "is replaced by `python -m sharing.tokens.evaluator` on RISKSHARE_EVALUATOR_SOCKET, with the seeds of "
        "RISKSHARE_EVALUATOR_SEED_FILE (in development var/token-seeds.json, created with the first v2 key)."
    )

    def handle(self, *args, **options):
        # exec, not import: the evaluator starts as a fresh interpreter that never loaded the web's settings.
        os.execv(sys.executable, [sys.executable, *evaluator_arguments()])  # noqa: S606


def evaluator_arguments() -> list[str]:
    seed_file = os.environ.get("RISKSHARE_EVALUATOR_SEED_FILE") or str(settings.VAR_DIR / "token-seeds.json")
    return ["-m", "sharing.tokens.evaluator", "--socket", settings.RISKSHARE_EVALUATOR_SOCKET, "--seed-file", seed_file]
