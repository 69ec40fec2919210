"""Batches and records (scope records:write)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import problem_responses
from core.errors import DomainError
from members.audit import Actor
from sharing.apis.common import IDEMPOTENCY_KEY, RecordCursorPagination, json_body, page_response
from sharing.identifiers import ID_TYPES
from sharing.models import LoanProduct, RecordCategory, RecordKind, RecordStatus
from sharing.selectors import (
    batch_get,
    record_get,
    record_list,
)
from sharing.services.records import record_resolve, record_retract
from sharing.services.submission import batch_submit


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
        if not IDEMPOTENCY_KEY.fullmatch(key):
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
