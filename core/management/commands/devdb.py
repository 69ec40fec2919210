"""``manage.py devdb status|stop|reset``: the embedded development PostgreSQL under var/.

Settings leave the server alone while this command runs (config/settings.py), so that
``status`` reports what is there instead of starting it.
"""

from __future__ import annotations

import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from core.embedded_db import embedded_delete, embedded_status, embedded_stop


def _size(size_bytes: int) -> str:
    return f"{size_bytes / 2**20:.0f} MiB"


class Command(BaseCommand):
    help = (
        "The embedded development PostgreSQL (used when DATABASE_URL is unset, data under var/pgdata). "
        "status: whether it runs, its pid, the processes holding it and the disk it takes; "
        "stop: stop it now, whoever holds it; "
        "reset: stop it and delete its data (asks first unless --yes); the next manage.py command creates "
        "an empty one. The report signing key under var/ is kept, the demo consortium key files are deleted "
        "(their versions lived in the deleted database); quickstart makes new ones."
    )
    requires_system_checks: list = []

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["status", "stop", "reset"])
        parser.add_argument("--yes", action="store_true", help="reset without asking")

    def handle(self, *args, **options):
        data_dir = settings.EMBEDDED_PGDATA_DIR
        if not settings.EMBEDDED_DATABASE:
            self.stdout.write(_("DATABASE_URL is set: this configuration does not use the embedded database."))
        return getattr(self, f"_{options['action']}")(data_dir, options)

    def _status(self, data_dir, options):
        status = embedded_status(data_dir)
        if not status.initialised:
            self.stdout.write(_("No embedded database at %(dir)s (created on first use).") % {"dir": data_dir})
            return
        if status.running:
            self.stdout.write(
                _("Running: pid %(pid)s, data %(dir)s (%(size)s), %(url)s")
                % {"pid": status.pid, "dir": data_dir, "size": _size(status.size_bytes), "url": status.url}
            )
        else:
            self.stdout.write(
                _("Stopped: data %(dir)s (%(size)s).") % {"dir": data_dir, "size": _size(status.size_bytes)}
            )
        if status.holders:
            self.stdout.write(
                _("Held by process(es) %(pids)s; it stops when the last of them exits.")
                % {"pids": ", ".join(map(str, status.holders))}
            )
        elif status.running:
            self.stdout.write(_("No live process holds it: `manage.py devdb stop` stops it."))
        if status.dead_holders:
            self.stdout.write(
                _("Listed but dead (ignored, dropped at the next start or stop): %(pids)s")
                % {"pids": ", ".join(map(str, status.dead_holders))}
            )

    def _stop(self, data_dir, options):
        holders = embedded_status(data_dir).holders
        if embedded_stop(data_dir):
            self.stdout.write(_("Stopped the embedded database at %(dir)s.") % {"dir": data_dir})
            if holders:
                self.stdout.write(
                    _("Process(es) %(pids)s were using it and lost their connections.")
                    % {"pids": ", ".join(map(str, holders))}
                )
        else:
            self.stdout.write(_("The embedded database was not running."))

    def _reset(self, data_dir, options):
        status = embedded_status(data_dir)
        if not status.initialised:
            self.stdout.write(_("No embedded database at %(dir)s: nothing to reset.") % {"dir": data_dir})
            return
        if not options["yes"]:
            if not sys.stdin.isatty():
                raise CommandError(
                    _("reset deletes every record in %(dir)s; pass --yes to confirm.") % {"dir": data_dir}
                )
            answer = input(
                _("Delete the embedded database at %(dir)s (%(size)s) and all its data? Type 'yes' to confirm: ")
                % {"dir": data_dir, "size": _size(status.size_bytes)}
            )
            if answer.strip().lower() != "yes":
                raise CommandError(_("Nothing deleted."))
        embedded_delete(data_dir)
        key_files = sorted(data_dir.parent.glob("consortium-key-v*.json"))
        for path in key_files:
            path.unlink()
        self.stdout.write(_("Deleted %(dir)s.") % {"dir": data_dir})
        if key_files:
            self.stdout.write(
                _("Deleted the demo consortium key file(s) %(files)s: their versions lived in that database.")
                % {"files": ", ".join(path.name for path in key_files)}
            )
        signing_key = data_dir.parent / "report-signing-key.pem"
        if signing_key.exists():
            self.stdout.write(
                _("Kept %(path)s: reports signed before still verify against the same public key.")
                % {"path": signing_key}
            )
        self.stdout.write(_("Run `uv run manage.py quickstart` to set up a fresh instance."))
