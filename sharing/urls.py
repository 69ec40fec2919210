from django.urls import path

from sharing import apis

REFERENCE = "<str:reference>"

urlpatterns = [
    path("batches", apis.BatchSubmitApi.as_view(), name="batch-submit"),
    path("batches/<int:batch_id>", apis.BatchDetailApi.as_view(), name="batch-detail"),
    path("records", apis.RecordListApi.as_view(), name="record-list"),
    path(f"records/{REFERENCE}", apis.RecordDetailApi.as_view(), name="record-detail"),
    path(f"records/{REFERENCE}/resolve", apis.RecordResolveApi.as_view(), name="record-resolve"),
    path(f"records/{REFERENCE}/retract", apis.RecordRetractApi.as_view(), name="record-retract"),
    path("lookups", apis.LookupApi.as_view(), name="lookup"),
    path("lookups/<int:lookup_id>", apis.LookupDetailApi.as_view(), name="lookup-detail"),
    path("disputes", apis.DisputeListApi.as_view(), name="dispute-list"),
    path("disputes/<int:dispute_id>", apis.DisputeDetailApi.as_view(), name="dispute-detail"),
    path("alerts", apis.AlertListApi.as_view(), name="alert-list"),
    path("alerts/<int:alert_id>/ack", apis.AlertAcknowledgeApi.as_view(), name="alert-acknowledge"),
    path("reports", apis.ReportListApi.as_view(), name="report-list"),
    path("reports/public-key", apis.ReportPublicKeyApi.as_view(), name="report-public-key"),
    path("reports/<int:report_id>/download", apis.ReportDownloadApi.as_view(), name="report-download"),
]
