"""The retention job's words for operators: its audit actions and its system actor."""

from django.utils.translation import gettext_lazy as _

from members.audit import audit_labels_register

# What operators read for this package's audit action codes (stored in English: they are hashed into the
# audit chain).
audit_labels_register(
    actions={
        "retention.lookups_purged": _("Lookup log purged (retention)"),
        "retention.evaluation_counts_purged": _("Token evaluation counts purged (retention)"),
        "retention.monitoring_events_purged": _("Monitoring events purged (retention)"),
        "retention.records_purged": _("Records purged (retention)"),
        "retention.watches_purged": _("Expired watches purged (retention)"),
        "retention.webhook_deliveries_purged": _("Webhook deliveries purged (retention)"),
    },
    system_actors={
        "retention": _("retention job"),
    },
)
