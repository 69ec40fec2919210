"""Member API of sharing: batches and records (records:write), lookups (lookups), reports (reports:read)."""

from __future__ import annotations

import base64
import re

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import problem_responses
from config.errors import DomainError, PayloadTooLarge, UnsupportedMediaType
from config.gcpause import gc_paused
from members.audit import Actor
from sharing.identifiers import ID_TYPES
from sharing.models import Alert, Dispute, LoanProduct, RecordCategory, RecordKind, RecordStatus
from sharing.reports.signing import public_key_pem, signing_key_fingerprint
from sharing.selectors import (
    alert_get,
    alert_list,
    batch_get,
    dispute_get,
    dispute_list,
    lookup_get,
    record_get,
    record_list,
    report_get,
    report_list,
)
from sharing.services.alerts import alert_acknowledge, alert_payload_open
from sharing.services.disputes import DisputeIdentifier, dispute_file
from sharing.services.lookups import answer_unpack, lookup_answer, lookup_request_parse
from sharing.services.records import record_resolve, record_retract
from sharing.services.reports import report_download
from sharing.services.submission import batch_submit

_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")


def json_body(request, *, wrong_type_message: str) -> bytes:
    """The raw JSON body of a bulk request, read once; 415 for another media type, 413 when too large."""
    if request.content_type != "application/json":
        raise UnsupportedMediaType(wrong_type_message)
    if int(request.META.get("CONTENT_LENGTH") or 0) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
        raise PayloadTooLarge(_("The request body is too large."))
    try:
        return request.body
    except RequestDataTooBig:
        raise PayloadTooLarge(_("The request body is too large.")) from None


class BatchOutputSerializer(serializers.Serializer):
    class ErrorSerializer(serializers.Serializer):
        index = serializers.IntegerField(help_text="Position of the record in the submitted list, from 0.")
        field = serializers.CharField(help_text="JSON Pointer inside that record; empty for the record itself.")
        code = serializers.CharField()
        message = serializers.CharField()

    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["received", "processing", "done", "failed"])
    received = serializers.IntegerField()
    accepted = serializers.IntegerField()
    rejected = serializers.IntegerField()
    errors = ErrorSerializer(many=True)


_record_input_schema = inline_serializer(
    "RecordInput",
    {
        "reference": serializers.RegexField(r"^[A-Za-z0-9._:-]{1,64}$"),
        "kind": serializers.ChoiceField(choices=RecordKind.values),
        "category": serializers.ChoiceField(choices=RecordCategory.values),
        "identifiers": inline_serializer(
            "IdentifierInput",
            {"type": serializers.ChoiceField(choices=ID_TYPES), "token": serializers.RegexField(r"^[0-9a-f]{64}$")},
            many=True,
            min_length=1,
            max_length=8,
        ),
        "key_version": serializers.IntegerField(min_value=1, help_text="A current consortium key version."),
        "event_date": serializers.DateField(),
        "resolved_date": serializers.DateField(required=False),
        "overdue_days": serializers.IntegerField(min_value=1, required=False),
        "overdue_amount": serializers.RegexField(r"^(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?$", required=False),
        "currency": serializers.ChoiceField(choices=["CNY"], required=False),
        "product": serializers.ChoiceField(choices=LoanProduct.values, required=False),
    },
)


class BatchSubmitApi(APIView):
    """Submit 1–10,000 records. Valid records are stored; invalid ones are listed in `errors`."""

    required_scope = "records:write"

    @extend_schema(
        operation_id="batch_submit",
        tags=["records"],
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=True,
                description="1–255 visible ASCII characters, unique per batch; kept at least 24 hours.",
                pattern=r"^[\x21-\x7e]{1,255}$",
            )
        ],
        request=inline_serializer(
            "BatchInput",
            {"records": serializers.ListField(child=_record_input_schema, min_length=1, max_length=10_000)},
        ),
        responses={202: BatchOutputSerializer, **problem_responses(409, 413, 415, 422)},
    )
    def post(self, request):
        key = request.headers.get("Idempotency-Key", "")
        if not _IDEMPOTENCY_KEY.fullmatch(key):
            raise DomainError(
                _("Send an Idempotency-Key header of 1–255 visible ASCII characters."),
                code="idempotency_key_required",
                field="/headers/Idempotency-Key",
            )
        body = json_body(request, wrong_type_message=_("Send the batch as application/json."))
        status, answer = batch_submit(credential=request.auth, idempotency_key=key, body=body)
        return Response(answer, status=status)


class BatchDetailApi(APIView):
    """A batch's status and counts: received → processing → done (matched)."""

    required_scope = "records:write"

    class BatchStatusSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        status = serializers.CharField()
        received = serializers.IntegerField()
        accepted = serializers.IntegerField()
        rejected = serializers.IntegerField()
        errors = BatchOutputSerializer.ErrorSerializer(many=True)
        created_at = serializers.DateTimeField()
        processed_at = serializers.DateTimeField(allow_null=True)

    @extend_schema(
        operation_id="batch_get", tags=["records"], responses={200: BatchStatusSerializer, **problem_responses(404)}
    )
    def get(self, request, batch_id: int):
        batch = batch_get(member_id=request.user.pk, batch_id=batch_id)
        return Response(self.BatchStatusSerializer(batch).data)


class RecordOutputSerializer(serializers.Serializer):
    reference = serializers.CharField()
    kind = serializers.CharField()
    category = serializers.CharField()
    status = serializers.CharField()
    event_date = serializers.DateField()
    resolved_date = serializers.DateField(allow_null=True)
    overdue_days = serializers.IntegerField(allow_null=True)
    overdue_amount = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    currency = serializers.CharField()
    product = serializers.CharField()
    key_version = serializers.IntegerField()
    identifier_types = serializers.ListField(
        child=serializers.CharField(), help_text="Tokens are stored only keyed with the platform pepper."
    )
    retract_reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


def page_response(view, request, queryset, serializer_class, pagination_class) -> Response:
    """One cursor page of a member's own rows: ``{"next", "previous", "results"}``."""
    paginator = pagination_class()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


class RecordCursorPagination(CursorPagination):
    ordering = ("updated_at", "id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class RecordListApi(APIView):
    """Your own records, oldest change first; page with `next`."""

    required_scope = "records:write"

    class RecordFilterSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=RecordKind.values, required=False)
        status = serializers.ChoiceField(choices=RecordStatus.values, required=False)
        updated_since = serializers.DateTimeField(required=False)

        def to_internal_value(self, data):
            # An empty ?status= is a mistake, not "no filter".
            empty = [name for name in self.fields if data.get(name, None) == ""]
            if empty:
                raise serializers.ValidationError({name: [_("Give a value, or leave it out.")] for name in empty})
            return super().to_internal_value(data)

    @extend_schema(
        operation_id="record_list",
        tags=["records"],
        parameters=[
            RecordFilterSerializer,
            OpenApiParameter("cursor", OpenApiTypes.STR),
            OpenApiParameter("page_size", int),
        ],
        responses={
            200: inline_serializer(
                "RecordPage",
                {
                    "next": serializers.URLField(allow_null=True),
                    "previous": serializers.URLField(allow_null=True),
                    "results": RecordOutputSerializer(many=True),
                },
            ),
            **problem_responses(404),
        },
    )
    def get(self, request):
        filters = self.RecordFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        records = record_list(member_id=request.user.pk, **filters.validated_data)
        return page_response(self, request, records, RecordOutputSerializer, RecordCursorPagination)


class RecordDetailApi(APIView):
    required_scope = "records:write"

    @extend_schema(
        operation_id="record_get", tags=["records"], responses={200: RecordOutputSerializer, **problem_responses(404)}
    )
    def get(self, request, reference: str):
        return Response(RecordOutputSerializer(record_get(member_id=request.user.pk, reference=reference)).data)


class RecordResolveApi(APIView):
    """The adverse event ended (e.g. the debt was repaid) on `resolved_date`."""

    required_scope = "records:write"

    class ResolveInputSerializer(serializers.Serializer):
        resolved_date = serializers.DateField()

    @extend_schema(
        operation_id="record_resolve",
        tags=["records"],
        request=ResolveInputSerializer,
        responses={200: RecordOutputSerializer, **problem_responses(404, 409)},
    )
    def post(self, request, reference: str):
        data = self.ResolveInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        record = record_get(member_id=request.user.pk, reference=reference)
        record = record_resolve(actor=Actor.credential(request.auth), record=record, **data.validated_data)
        return Response(RecordOutputSerializer(record).data)


class RecordRetractApi(APIView):
    """Withdraw a record; it leaves lookups at once."""

    required_scope = "records:write"

    class RetractInputSerializer(serializers.Serializer):
        reason = serializers.CharField(min_length=1, max_length=2000)

    @extend_schema(
        operation_id="record_retract",
        tags=["records"],
        request=RetractInputSerializer,
        responses={200: RecordOutputSerializer, **problem_responses(404, 409)},
    )
    def post(self, request, reference: str):
        data = self.RetractInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        record = record_get(member_id=request.user.pk, reference=reference)
        record = record_retract(actor=Actor.credential(request.auth), record=record, **data.validated_data)
        return Response(RecordOutputSerializer(record).data)


class LookupResultSerializer(serializers.Serializer):
    class BlacklistSerializer(serializers.Serializer):
        active = serializers.BooleanField()
        categories = serializers.ListField(child=serializers.CharField())
        last_reported = serializers.DateField(allow_null=True)

    class DelinquencySerializer(serializers.Serializer):
        active_records = serializers.IntegerField()
        max_overdue_days = serializers.IntegerField()
        total_overdue_amount = serializers.CharField(help_text="Decimal string, CNY.")
        latest_event_date = serializers.DateField(allow_null=True)

    class InquiriesSerializer(serializers.Serializer):
        members_30d = serializers.IntegerField()
        members_90d = serializers.IntegerField()

    type = serializers.CharField()
    token = serializers.CharField()
    hit = serializers.BooleanField()
    reporting_members = serializers.IntegerField(help_text="Distinct members with an active record (you included).")
    reported_by_you = serializers.BooleanField()
    blacklist = BlacklistSerializer()
    delinquency = DelinquencySerializer()
    inquiries = InquiriesSerializer(
        help_text="Distinct other members whose credit_application/account_opening lookups named the token."
    )
    disputed = serializers.BooleanField(help_text="A record behind the answer is under dispute (or was unverifiable).")
    statement = serializers.BooleanField(help_text="The subject attached a statement (本人声明) through a dispute.")


class LookupApi(APIView):
    """Check up to 10,000 identifiers against every member's reports. Never says who reported."""

    required_scope = "lookups"

    @extend_schema(
        operation_id="lookup_create",
        tags=["lookups"],
        request=inline_serializer(
            "LookupInput",
            {
                "purpose": serializers.ChoiceField(
                    choices=["credit_application", "account_opening", "post_loan_monitoring", "fraud_investigation"]
                ),
                "consent_reference": serializers.RegexField(
                    r"^[^\x00-\x1f\x7f]{1,200}$",
                    required=False,
                    help_text="Required for credit_application and account_opening; 1–200 printable characters.",
                ),
                "key_version": serializers.IntegerField(help_text="A current consortium key version."),
                "identifiers": inline_serializer(
                    "LookupIdentifier",
                    {
                        "type": serializers.ChoiceField(choices=ID_TYPES),
                        "token": serializers.RegexField(r"^[0-9a-f]{64}$"),
                    },
                    many=True,
                    min_length=1,
                    max_length=10_000,
                ),
            },
        ),
        responses={
            200: inline_serializer(
                "LookupAnswer", {"id": serializers.IntegerField(), "results": LookupResultSerializer(many=True)}
            ),
            **problem_responses(413, 415, 429),
        },
    )
    def post(self, request):
        body = json_body(request, wrong_type_message=_("Send the lookup as application/json."))
        with gc_paused():  # up to 10,000 identifiers and results: no cycles among them
            # Rendered by the service while PostgreSQL writes the log, not after the commit.
            answer = lookup_answer(credential=request.auth, request=lookup_request_parse(body))
        return HttpResponse(answer, content_type="application/json")


class LookupDetailApi(APIView):
    """A past answer, to the member that asked."""

    required_scope = "lookups"

    class LookupDetailSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        purpose = serializers.CharField()
        consent_reference = serializers.CharField()
        created_at = serializers.DateTimeField()
        results = LookupResultSerializer(many=True)

    @extend_schema(
        operation_id="lookup_get",
        tags=["lookups"],
        responses={200: LookupDetailSerializer, **problem_responses(404)},
    )
    def get(self, request, lookup_id: int):
        lookup = lookup_get(member_id=request.user.pk, lookup_id=lookup_id)
        past = {
            "id": lookup.pk,
            "purpose": lookup.purpose,
            "consent_reference": lookup.consent_reference,
            "created_at": lookup.created_at,
            "results": answer_unpack(lookup.answer, lookup_id=lookup.pk),
        }
        return Response(self.LookupDetailSerializer(past).data)


class NewestFirstPagination(CursorPagination):
    ordering = ("-id",)
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


def _page_schema(name: str, item) -> dict:
    return {
        200: inline_serializer(
            name,
            {
                "next": serializers.URLField(allow_null=True),
                "previous": serializers.URLField(allow_null=True),
                "results": item(many=True),
            },
        ),
        **problem_responses(404),
    }


_PAGE_PARAMETERS = [OpenApiParameter("cursor", OpenApiTypes.STR), OpenApiParameter("page_size", int)]


class DisputeOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(
        choices=Dispute.Status.values, help_text="open, or the outcome: corrected, confirmed, unverifiable."
    )
    received_at = serializers.DateTimeField()
    due_date = serializers.DateField(help_text="Operators settle the dispute by this day (20 days after receipt).")
    record = serializers.IntegerField(source="record_id", allow_null=True)
    records_disputed = serializers.IntegerField(help_text="Records marked disputed when the dispute was accepted.")
    reason = serializers.CharField()
    statement = serializers.CharField(help_text="The subject's statement; empty when none was given.")
    settled_at = serializers.DateTimeField(allow_null=True)
    settlement_note = serializers.CharField()


class DisputeListApi(APIView):
    """File a data subject's dispute; list the disputes you filed, newest first."""

    required_scope = "disputes"

    class DisputeInputSerializer(serializers.Serializer):
        identifiers = inline_serializer(
            "DisputeIdentifier",
            {"type": serializers.ChoiceField(choices=ID_TYPES), "token": serializers.RegexField(r"^[0-9a-f]{64}$")},
            many=True,
            min_length=1,
            max_length=8,
        )
        key_version = serializers.IntegerField(min_value=1, help_text="A current consortium key version.")
        record = serializers.IntegerField(
            min_value=1, required=False, help_text="The platform id of the one record disputed (optional)."
        )
        reason = serializers.CharField(max_length=2000, help_text="The subject's objection.")
        statement = serializers.CharField(
            max_length=4000, required=False, allow_blank=True, help_text="The subject's own statement (本人声明)."
        )

        def validate_identifiers(self, value):
            types = [identifier["type"] for identifier in value]
            if len(types) != len(set(types)):
                raise serializers.ValidationError(_("Each identifier type may appear once."), code="duplicate_type")
            return value

    @extend_schema(
        operation_id="dispute_file",
        tags=["disputes"],
        request=DisputeInputSerializer,
        responses={201: DisputeOutputSerializer, **problem_responses(404, 429)},
    )
    def post(self, request):
        data = self.DisputeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        dispute = dispute_file(
            credential=request.auth,
            identifiers=[DisputeIdentifier(i["type"], i["token"]) for i in values["identifiers"]],
            key_version=values["key_version"],
            reason=values["reason"],
            statement=values.get("statement", ""),
            record_id=values.get("record"),
        )
        return Response(DisputeOutputSerializer(dispute).data, status=201)

    @extend_schema(
        operation_id="dispute_list",
        tags=["disputes"],
        parameters=_PAGE_PARAMETERS,
        responses=_page_schema("DisputePage", DisputeOutputSerializer),
    )
    def get(self, request):
        disputes = dispute_list(member_id=request.user.pk)
        return page_response(self, request, disputes, DisputeOutputSerializer, NewestFirstPagination)


class DisputeDetailApi(APIView):
    """A dispute you filed, with its outcome once settled."""

    required_scope = "disputes"

    @extend_schema(
        operation_id="dispute_get",
        tags=["disputes"],
        responses={200: DisputeOutputSerializer, **problem_responses(404)},
    )
    def get(self, request, dispute_id: int):
        return Response(DisputeOutputSerializer(dispute_get(member_id=request.user.pk, dispute_id=dispute_id)).data)


class AlertOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=Alert.Kind.values)
    payload = serializers.SerializerMethodField(
        help_text="Depends on the kind; see docs/api.md. Never names a reporting member."
    )
    created_at = serializers.DateTimeField()
    acknowledged_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_payload(self, alert) -> dict:
        return alert_payload_open(alert)


class AlertListApi(APIView):
    """Alerts to your institution, newest first (any valid key of the member)."""

    class AlertFilterSerializer(serializers.Serializer):
        unacknowledged = serializers.BooleanField(required=False, help_text="Only alerts nobody acknowledged yet.")

    @extend_schema(
        operation_id="alert_list",
        tags=["alerts"],
        parameters=[AlertFilterSerializer, *_PAGE_PARAMETERS],
        responses=_page_schema("AlertPage", AlertOutputSerializer),
    )
    def get(self, request):
        filters = self.AlertFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        alerts = alert_list(member_id=request.user.pk, **filters.validated_data)
        return page_response(self, request, alerts, AlertOutputSerializer, NewestFirstPagination)


class AlertAcknowledgeApi(APIView):
    """Mark an alert read; acknowledging it again changes nothing."""

    @extend_schema(
        operation_id="alert_acknowledge",
        tags=["alerts"],
        request=None,
        responses={200: AlertOutputSerializer, **problem_responses(404)},
    )
    def post(self, request, alert_id: int):
        alert = alert_get(member_id=request.user.pk, alert_id=alert_id)
        return Response(AlertOutputSerializer(alert_acknowledge(credential=request.auth, alert=alert)).data)


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
        parameters=_PAGE_PARAMETERS,
        responses=_page_schema("ReportPage", ReportOutputSerializer),
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
