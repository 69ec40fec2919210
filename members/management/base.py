"""Common ground of the automation commands: non-interactive, clear errors, non-zero exits."""

from __future__ import annotations

import getpass

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from core.errors import DomainError
from members.audit import Actor
from members.models import Institution
from members.selectors import institution_by_uscc


class ServiceCommand(BaseCommand):
    def cli_actor(self) -> Actor:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
        return Actor.system(f"manage.py {self.command_name} ({user})")

    @property
    def command_name(self) -> str:
        return self.__module__.rsplit(".", 1)[-1]

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except DomainError as exc:
            raise CommandError(f"{exc.message} [{exc.code}]") from exc

    def institution(self, uscc: str) -> Institution:
        institution = institution_by_uscc(uscc=uscc)
        if institution is None:
            raise CommandError(_("No institution has the unified social credit code %(uscc)s.") % {"uscc": uscc})
        return institution
