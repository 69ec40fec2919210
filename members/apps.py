from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = _("Members and audit")

    def ready(self) -> None:
        from members.groups import operator_groups_ensure

        # Permissions exist only after post_migrate has created them, so the
        # groups are (re)built there rather than in a data migration.
        post_migrate.connect(operator_groups_ensure, dispatch_uid="members.operator_groups_ensure")
