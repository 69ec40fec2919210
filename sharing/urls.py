from django.urls import path

from sharing.apis import disputes, log, lookups, records, reports, watches, webhooks

REFERENCE = "<str:reference>"

urlpatterns = [
    path("batches", records.BatchSubmitApi.as_view(), name="batch-submit"),
    path("batches/<int:batch_id>", records.BatchDetailApi.as_view(), name="batch-detail"),
    path("batches/<int:batch_id>/receipt", log.BatchReceiptApi.as_view(), name="batch-receipt"),
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
    path("alerts", disputes.AlertListApi.as_view(), name="alert-list"),
    path("alerts/<int:alert_id>/ack", disputes.AlertAcknowledgeApi.as_view(), name="alert-acknowledge"),
    path("watches", watches.WatchesPutApi.as_view(), name="watch-list"),
    path(f"watches/{REFERENCE}", watches.WatchDetailApi.as_view(), name="watch-detail"),
    path("monitoring/events", watches.EventFeedApi.as_view(), name="monitoring-events"),
    path("webhook-endpoints", webhooks.EndpointListApi.as_view(), name="webhook-endpoint-list"),
    path("webhook-endpoints/<int:endpoint_id>", webhooks.EndpointDetailApi.as_view(), name="webhook-endpoint-detail"),
    path(
        "webhook-endpoints/<int:endpoint_id>/rotate-secret",
        webhooks.EndpointRotateApi.as_view(),
        name="webhook-endpoint-rotate",
    ),
    path(
        "webhook-endpoints/<int:endpoint_id>/replay",
        webhooks.EndpointReplayApi.as_view(),
        name="webhook-endpoint-replay",
    ),
    path("webhook-endpoints/<int:endpoint_id>/test", webhooks.EndpointTestApi.as_view(), name="webhook-endpoint-test"),
    path("reports", reports.ReportListApi.as_view(), name="report-list"),
    path("reports/public-key", reports.ReportPublicKeyApi.as_view(), name="report-public-key"),
    path("reports/<int:report_id>/download", reports.ReportDownloadApi.as_view(), name="report-download"),
]
