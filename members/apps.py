from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = _("Members and audit")

    def ready(self) -> None:
        from axes.signals import user_locked_out
        from django.contrib.auth.signals import user_logged_in

        from core.partitions import partitioned_table_register
        from members import history  # noqa: F401 - its audit labels
        from members.groups import operator_groups_ensure
        from members.signals import operator_locked_out, operator_logged_in

        # Permissions exist only after post_migrate has created them, so the
        # groups are (re)built there rather than in a data migration.
        # The audit trail grows with every lookup: partitioned by month (migration 0009).
        partitioned_table_register(
            "members_auditevent",
            "occurred_at",
            triggers=["members.AuditEvent:append_only", "members.AuditEvent:append_only_delete"],
        )
        post_migrate.connect(operator_groups_ensure, dispatch_uid="members.operator_groups_ensure")
        user_logged_in.connect(operator_logged_in, dispatch_uid="members.operator_logged_in")
        user_locked_out.connect(operator_locked_out, dispatch_uid="members.operator_locked_out")
