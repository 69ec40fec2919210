from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SharingConfig(AppConfig):
    name = "sharing"
    verbose_name = _("Risk information sharing")

    # What each operator group of members.groups may do here (codenames of this app's permissions).
    operator_group_permissions = {
        "reviewer": [
            "view_batch",
            "view_lookupquota",
            "add_lookupquota",
            "change_lookupquota",
            "view_memberflag",
            "view_report",
            "generate_report",
            "view_watch",
            "view_webhookendpoint",
            "replay_webhookendpoint",
            "view_partner",
            "view_partnerlicence",
            "view_partnerflag",
            "review_partnerflag",
            "view_policycard",
        ],
        "credential_admin": ["view_consortiumkey", "retire_consortiumkey"],
        # The dispute queue: settle disputes within the statutory period, read the records they cover.
        "dispute_handler": [
            "view_dispute",
            "settle_dispute",
            "view_record",
            "view_alert",
            "view_lookup",
            "search_subject",
        ],
        # The 本人查询 desk: check a person's identity, issue their own report, file their objections, make,
        # renew and withdraw their protective registration.
        "subject_access": [
            "issue_subjectreport",
            "view_subjectreport",
            "view_protectiveregistration",
        ],
        # Read-only access to the audit trail.
        "auditor": [
            "view_batch",
            "view_record",
            "view_dispute",
            "view_alert",
            "view_memberflag",
            "view_report",
            "view_lookup",
            "search_subject",
            "view_watch",
            "view_webhookendpoint",
            "view_partner",
            "view_partnerlicence",
            "view_partnerflag",
            "view_policycard",
            "view_subjectreport",
            "view_protectiveregistration",
        ],
    }

    def ready(self) -> None:
        # Services enqueue jobs by name (core.jobs): the tasks must be registered in every process
        # that enqueues, not only in workers (autodiscovery imports them at worker start only).
        # The lookup log, partitioned by month (core.partitions; migration 0025) and dropped a month at a time.
        from core.partitions import partitioned_table_register
        from sharing import tasks  # noqa: F401

        partitioned_table_register("sharing_lookup", "created_at", triggers=["sharing.Lookup:append_only"])
        partitioned_table_register("sharing_lookupentry", "created_at", triggers=["sharing.LookupEntry:append_only"])

        # Monitoring hears records' and disputes' changes through their signals.
        from sharing.monitoring import receivers  # noqa: F401
