"""What is shared: consortium keys, records and their summaries, lookups, disputes, alerts, reports,
monitoring, partners.

One module per concern; every model is importable from ``sharing.models`` as Django expects.
"""

from sharing.alerts.models import Alert
from sharing.disputes.models import Dispute, DisputedRecord, DisputeToken
from sharing.evaluations.models import TokenEvaluationCount, TokenEvaluationLimit
from sharing.lookups.models import (
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
from sharing.monitoring.models import (
    MemberWatchCount,
    MonitoringEvent,
    Watch,
    WatchToken,
    WebhookDelivery,
    WebhookEndpoint,
)
from sharing.protection.models import ProtectiveRegistration, ProtectiveToken
from sharing.records.models import (
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
    SummaryCheck,
    TokenSummary,
)
from sharing.registers.models import LicenceType, Partner, PartnerFlag, PartnerLicence, PartnerRole, PolicyCard
from sharing.reports.models import Report
from sharing.subjects.models import SubjectReport, SubjectReportToken
from sharing.tlog.models import LogChange, LogCheckpoint, LogLeaf, LogPending, LogState, LogTile
from sharing.tokens.models import ConsortiumKey

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
    "ProtectiveRegistration",
    "ProtectiveToken",
    "QuotaRefusal",
    "QuotaUsage",
    "Record",
    "RecordCategory",
    "RecordIdentifier",
    "RecordKind",
    "RecordStatus",
    "Report",
    "SubjectReport",
    "SubjectReportToken",
    "SummaryCheck",
    "TokenEvaluationCount",
    "TokenEvaluationLimit",
    "TokenSummary",
    "Watch",
    "WatchToken",
    "WebhookDelivery",
    "WebhookEndpoint",
]
