"""The member API's one route table, in docs/api.md's order; each view lives in its package's ``apis``."""

from django.urls import path

from sharing.alerts import apis as alerts
from sharing.disputes import apis as disputes
from sharing.evaluations import apis as evaluations
from sharing.lookups import apis as lookups
from sharing.monitoring import apis as monitoring
from sharing.protection import apis as protection
from sharing.records import apis as records
from sharing.registers.apis import partners, policies
from sharing.reports import apis as reports
from sharing.tlog import apis as log

REFERENCE = "<str:reference>"
USCC = "<str:uscc>"

urlpatterns = [
    path("tokens/keys", evaluations.TokenKeysApi.as_view(), name="token-keys"),
    path("tokens/evaluate", evaluations.TokenEvaluateApi.as_view(), name="token-evaluate"),
    path("batches", records.BatchSubmitApi.as_view(), name="batch-submit"),
    path("batches/<int:batch_id>", records.BatchDetailApi.as_view(), name="batch-detail"),
    path("batches/<int:batch_id>/receipt", records.BatchReceiptApi.as_view(), name="batch-receipt"),
    path("log/checkpoint", log.CheckpointApi.as_view(), name="log-checkpoint"),
    path("log/key", log.VerifierKeyApi.as_view(), name="log-key"),
    path("log/proof/inclusion", log.InclusionProofApi.as_view(), name="log-inclusion-proof"),
    path("log/proof/consistency", log.ConsistencyProofApi.as_view(), name="log-consistency-proof"),
    path("log/tile/<path:tile>", log.TileApi.as_view(), name="log-tile"),
    path("records", records.RecordListApi.as_view(), name="record-list"),
    path(f"records/{REFERENCE}", records.RecordDetailApi.as_view(), name="record-detail"),
    path(f"records/{REFERENCE}/resolve", records.RecordResolveApi.as_view(), name="record-resolve"),
    path(f"records/{REFERENCE}/retract", records.RecordRetractApi.as_view(), name="record-retract"),
    path("lookups", lookups.LookupApi.as_view(), name="lookup"),
    path("lookups/<int:lookup_id>", lookups.LookupDetailApi.as_view(), name="lookup-detail"),
    path("disputes", disputes.DisputeListApi.as_view(), name="dispute-list"),
    path("disputes/<int:dispute_id>", disputes.DisputeDetailApi.as_view(), name="dispute-detail"),
    path(
        "protective-registrations",
        protection.ProtectiveRegistrationApi.as_view(),
        name="protective-registration-list",
    ),
    path("alerts", alerts.AlertListApi.as_view(), name="alert-list"),
    path("alerts/<int:alert_id>/ack", alerts.AlertAcknowledgeApi.as_view(), name="alert-acknowledge"),
    path("watches", monitoring.WatchesPutApi.as_view(), name="watch-list"),
    path(f"watches/{REFERENCE}", monitoring.WatchDetailApi.as_view(), name="watch-detail"),
    path("monitoring/events", monitoring.EventFeedApi.as_view(), name="monitoring-events"),
    path("webhook-endpoints", monitoring.EndpointListApi.as_view(), name="webhook-endpoint-list"),
    path("webhook-endpoints/<int:endpoint_id>", monitoring.EndpointDetailApi.as_view(), name="webhook-endpoint-detail"),
    path(
        "webhook-endpoints/<int:endpoint_id>/rotate-secret",
        monitoring.EndpointRotateApi.as_view(),
        name="webhook-endpoint-rotate",
    ),
    path(
        "webhook-endpoints/<int:endpoint_id>/replay",
        monitoring.EndpointReplayApi.as_view(),
        name="webhook-endpoint-replay",
    ),
    path(
        "webhook-endpoints/<int:endpoint_id>/test", monitoring.EndpointTestApi.as_view(), name="webhook-endpoint-test"
    ),
    path("partners", partners.PartnerListApi.as_view(), name="partner-list"),
    path(f"partners/{USCC}", partners.PartnerDetailApi.as_view(), name="partner-detail"),
    path(f"partners/{USCC}/exit", partners.PartnerExitApi.as_view(), name="partner-exit"),
    path(f"partners/{USCC}/flags", partners.PartnerFlagListApi.as_view(), name="partner-flag-list"),
    path(f"partners/{USCC}/profile", partners.PartnerProfileApi.as_view(), name="partner-profile"),
    path("partner-flags/<int:flag_id>/answer", partners.PartnerFlagAnswerApi.as_view(), name="partner-flag-answer"),
    path("policies", policies.PolicyListApi.as_view(), name="policy-list"),
    path(f"policies/{USCC}/versions", policies.PolicyVersionsApi.as_view(), name="policy-versions"),
    path("reports", reports.ReportListApi.as_view(), name="report-list"),
    path("reports/public-key", reports.ReportPublicKeyApi.as_view(), name="report-public-key"),
    path("reports/<int:report_id>/download", reports.ReportDownloadApi.as_view(), name="report-download"),
]
