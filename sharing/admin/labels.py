"""What operators read for sharing's audit action codes, system actors and identifier types.

The stored codes stay English (they are hashed into the audit chain, and members send them).
"""

from django.utils.translation import gettext_lazy as _

from members.audit import audit_labels_register

ID_TYPE_LABELS = {
    "cn_resident_id": _("Resident ID number"),
    "cn_mobile": _("Mobile number"),
    "cn_uscc": _("Unified social credit code"),
    "bank_card": _("Bank card number"),
    "email": _("E-mail address"),
    "device_id": _("Device ID"),
}

audit_labels_register(
    actions={
        "alert.acknowledged": _("Alert acknowledged"),
        "batch.accepted": _("Batch accepted"),
        "batch.matched": _("Batch matched"),
        "consortium_key.created": _("Consortium key version created"),
        "consortium_key.retired": _("Consortium key version retired"),
        "dispute.filed": _("Dispute filed"),
        "dispute.settled": _("Dispute settled"),
        "dispute.due_soon": _("Dispute due soon"),
        "dispute.overdue": _("Dispute overdue"),
        "lookup.performed": _("Lookup performed"),
        "lookup_quota.set": _("Lookup quota set"),
        "member.flagged": _("Member flagged"),
        "record.resolved": _("Record resolved"),
        "record.retracted": _("Record retracted"),
        "record.viewed": _("Record viewed by an operator"),
        "report.downloaded": _("Report downloaded"),
        "report.generated": _("Report generated"),
        "report.regenerated": _("Report regenerated"),
        "retention.lookups_purged": _("Lookup log purged (retention)"),
        "retention.monitoring_events_purged": _("Monitoring events purged (retention)"),
        "retention.records_purged": _("Records purged (retention)"),
        "retention.watches_purged": _("Expired watches purged (retention)"),
        "retention.webhook_deliveries_purged": _("Webhook deliveries purged (retention)"),
        "subject.searched": _("Subject searched by an operator"),
        "summaries.verified": _("Summaries verified"),
        "watch.deleted": _("Watch removed"),
        "watches.put": _("Watches registered"),
        "webhook_endpoint.created": _("Webhook endpoint created"),
        "webhook_endpoint.dead_letters_replayed": _("Webhook dead letters replayed"),
        "webhook_endpoint.deleted": _("Webhook endpoint deleted"),
        "webhook_endpoint.disabled": _("Webhook endpoint disabled (410)"),
        "webhook_endpoint.failing": _("Webhook endpoint marked failing"),
        "webhook_endpoint.replayed": _("Webhook events replayed"),
        "webhook_endpoint.secret_rotated": _("Webhook signing secret rotated"),
        "webhook_endpoint.tested": _("Webhook endpoint tested"),
    },
    system_actors={
        "matching": _("matching jobs"),
        "enumeration watch": _("enumeration watch"),
        "disputes": _("dispute deadlines"),
        "retention": _("retention job"),
        "nightly summary verification": _("nightly summary verification"),
        "monthly self-inspection reports": _("monthly self-inspection reports"),
    },
)
