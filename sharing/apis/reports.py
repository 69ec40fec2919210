"""Self-inspection reports (scope reports:read) and the key that signs them."""

from __future__ import annotations

import base64

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
)
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import problem_responses
from members.audit import Actor
from sharing.apis.common import PAGE_PARAMETERS, NewestFirstPagination, page_response, page_schema
from sharing.reports.signing import public_key_pem, signing_key_fingerprint
from sharing.selectors import (
    report_get,
    report_list,
)
from sharing.services.reports import report_download


class ReportOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    period_start = serializers.DateField(help_text="First day of the period (Asia/Shanghai).")
    period_end = serializers.DateField(help_text="Day after the last day of the period.")
    sha256 = serializers.CharField(help_text="SHA-256 of the ZIP file, hex.")
    size = serializers.IntegerField(help_text="Bytes.")
    generated_at = serializers.DateTimeField()
    download = serializers.SerializerMethodField(help_text="Where to GET the ZIP.")

    def get_download(self, report) -> str:
        return f"/api/v1/reports/{report.pk}/download"


class ReportListApi(APIView):
    """Your self-inspection reports, newest first; page with `next`."""

    required_scope = "reports:read"

    @extend_schema(
        operation_id="report_list",
        tags=["reports"],
        parameters=PAGE_PARAMETERS,
        responses=page_schema("ReportPage", ReportOutputSerializer),
    )
    def get(self, request):
        reports = report_list(member_id=request.user.pk)
        return page_response(self, request, reports, ReportOutputSerializer, NewestFirstPagination)


class ReportDownloadApi(APIView):
    """The report ZIP (summary.json, CSVs, report.xlsx, manifest.json, manifest.sig). Every download is audited."""

    required_scope = "reports:read"

    @extend_schema(
        operation_id="report_download",
        tags=["reports"],
        responses={
            (200, "application/zip"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The signed report ZIP; verify it with `riskshare verify-report`."
            ),
            **problem_responses(404),
        },
    )
    def get(self, request, report_id: int):
        report = report_get(member_id=request.user.pk, report_id=report_id)
        content = report_download(report=report, actor=Actor.credential(request.auth), channel="api")
        response = HttpResponse(content, content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{report.filename}"'
        # RFC 9530: the SHA-256 of the file, to check the transfer before opening it.
        response["Repr-Digest"] = f"sha-256=:{base64.b64encode(bytes.fromhex(report.sha256)).decode()}:"
        response["Cache-Control"] = "no-store"
        return response


class ReportPublicKeyApi(APIView):
    """The platform's Ed25519 public key that signs every report's manifest. No authentication."""

    authentication_classes: list = []
    permission_classes: list = []

    class PublicKeySerializer(serializers.Serializer):
        algorithm = serializers.CharField()
        public_key_pem = serializers.CharField(help_text="SubjectPublicKeyInfo, PEM.")
        fingerprint = serializers.CharField(help_text="SHA-256 of the raw 32-byte public key, hex.")

    @extend_schema(
        operation_id="report_public_key",
        tags=["reports"],
        responses={200: PublicKeySerializer},
    )
    def get(self, request):
        return Response(
            {
                "algorithm": "Ed25519",
                "public_key_pem": public_key_pem().decode(),
                "fingerprint": signing_key_fingerprint(),
            }
        )
