"""What is shared: consortium keys, records and their summaries, lookups, disputes, alerts, reports,
monitoring, partners.

One module per concern; every model is importable from ``sharing.models`` as Django expects.
"""

from sharing.models.disputes import Alert, Dispute, DisputedRecord, DisputeToken
from sharing.models.keys import ConsortiumKey
from sharing.models.log import LogChange, LogCheckpoint, LogLeaf, LogPending, LogState, LogTile
from sharing.models.lookups import (
    CONSENT_PURPOSES,
    Lookup,
    LookupEntry,
    LookupPurpose,
    LookupQuota,
    LookupTally,
    MemberFlag,
    QuotaRefusal,
    QuotaUsage,
)
from sharing.models.monitoring import (
    MemberWatchCount,
    MonitoringEvent,
    Watch,
    WatchToken,
    WebhookDelivery,
    WebhookEndpoint,
)
from sharing.models.partners import LicenceType, Partner, PartnerFlag, PartnerLicence, PartnerRole, PolicyCard
from sharing.models.records import (
    CATEGORIES_BY_KIND,
    Batch,
    DirtyToken,
    IdempotencyKey,
    LoanProduct,
    Record,
    RecordCategory,
    RecordIdentifier,
    RecordKind,
    RecordStatus,
    TokenSummary,
)
from sharing.models.reports import Report

__all__ = [
    "CATEGORIES_BY_KIND",
    "CONSENT_PURPOSES",
    "Alert",
    "Batch",
    "ConsortiumKey",
    "DirtyToken",
    "Dispute",
    "DisputeToken",
    "DisputedRecord",
    "IdempotencyKey",
    "LicenceType",
    "LoanProduct",
    "LogChange",
    "LogCheckpoint",
    "LogLeaf",
    "LogPending",
    "LogState",
    "LogTile",
    "Lookup",
    "LookupEntry",
    "LookupPurpose",
    "LookupQuota",
    "LookupTally",
    "MemberFlag",
    "MemberWatchCount",
    "MonitoringEvent",
    "Partner",
    "PartnerFlag",
    "PartnerLicence",
    "PartnerRole",
    "PolicyCard",
    "QuotaRefusal",
    "QuotaUsage",
    "Record",
    "RecordCategory",
    "RecordIdentifier",
    "RecordKind",
    "RecordStatus",
    "Report",
    "TokenSummary",
    "Watch",
    "WatchToken",
    "WebhookDelivery",
    "WebhookEndpoint",
]
