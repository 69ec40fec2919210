"""Self-inspection reports (scope reports:read) and the key that signs them."""

from __future__ import annotations

import base64

from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.openapi import response_example
from members.audit import Actor
from sharing.common.apis import PAGE_PARAMETERS, NewestFirstPagination, page_example, page_response, page_schema
from sharing.common.signing import public_key_pem, signing_key_fingerprint
from sharing.reports.selectors import report_get, report_list
from sharing.reports.services import report_download


class ReportOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text=_("The report's id."))
    period_start = serializers.DateField(help_text=_("First day of the period (Asia/Shanghai)."))
    period_end = serializers.DateField(help_text=_("Day after the last day of the period."))
    sha256 = serializers.CharField(help_text=_("SHA-256 of the ZIP file, hex."))
    size = serializers.IntegerField(help_text=_("Bytes."))
    generated_at = serializers.DateTimeField(help_text=_("When the report was generated."))
    download = serializers.SerializerMethodField(help_text=_("Where to GET the ZIP."))

    def get_download(self, report) -> str:
        return f"/api/v1/reports/{report.pk}/download"


REPORT_EXAMPLE = {
    "id": 31,
    "period_start": "2026-11-01",
    "period_end": "2026-12-01",
    "sha256": "5f7c2a3e9b1d4c6a8e0f2b4d6a8c0e2f4a6b8d0c2e4f6a8b0d2c4e6f8a0b2c4d",
    "size": 48213,
    "generated_at": "2026-12-01T02:00:00Z",
    "download": "/api/v1/reports/31/download",
}


class ReportListApi(APIView):
    required_scope = "reports:read"

    @extend_schema(
        operation_id="report_list",
        tags=["reports"],
        summary=_("List your reports"),
        description=_("Your self-inspection reports, newest first; page with `next`."),
        parameters=PAGE_PARAMETERS,
        responses=page_schema("ReportPage", ReportOutputSerializer),
        examples=[page_example(REPORT_EXAMPLE, path="reports")],
    )
    def get(self, request):
        reports = report_list(member_id=request.user.pk)
        return page_response(self, request, reports, ReportOutputSerializer, NewestFirstPagination)


class ReportDownloadApi(APIView):
    required_scope = "reports:read"

    @extend_schema(
        operation_id="report_download",
        tags=["reports"],
        summary=_("Download a report"),
        description=_(
            "The report ZIP (summary.json, CSVs, report.xlsx, manifest.json, manifest.sig). Every download is "
            "audited. `Repr-Digest` carries the file's SHA-256 to check the transfer."
        ),
        parameters=[
            OpenApiParameter(
                "Repr-Digest",
                str,
                OpenApiParameter.HEADER,
                response=[200],
                description=_("RFC 9530: `sha-256=:<base64>:`, the SHA-256 of the ZIP."),
            )
        ],
        responses={
            (200, "application/zip"): OpenApiResponse(
                OpenApiTypes.BINARY, description=_("The signed report ZIP; verify it with `riskshare verify-report`.")
            ),
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
    authentication_classes: list = []
    permission_classes: list = []

    class PublicKeySerializer(serializers.Serializer):
        algorithm = serializers.CharField(help_text=_("The signature algorithm: Ed25519."))
        public_key_pem = serializers.CharField(help_text=_("SubjectPublicKeyInfo, PEM."))
        fingerprint = serializers.CharField(help_text=_("SHA-256 of the raw 32-byte public key, hex."))

    @extend_schema(
        operation_id="report_public_key",
        tags=["reports"],
        summary=_("The reports' signing key"),
        description=_("The platform's Ed25519 public key that signs every report's manifest. No authentication."),
        responses={200: PublicKeySerializer},
        examples=[
            response_example(
                {
                    "algorithm": "Ed25519",
                    "public_key_pem": "-----BEGIN PUBLIC KEY-----\n"
                    "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n",
                    "fingerprint": "19bf44096984cdfe8541bac167dc3b96c85086aa30b6b6cb0c5c38ad703166e1",
                }
            )
        ],
    )
    def get(self, request):
        return Response(
            {
                "algorithm": "Ed25519",
                "public_key_pem": public_key_pem().decode(),
                "fingerprint": signing_key_fingerprint(),
            }
        )
