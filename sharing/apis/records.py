"""Batches and records (scope records:write)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import (
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import problem_responses
from core.clock import business_today
from core.gcpause import gc_paused
from members.audit import Actor
from sharing.apis.common import (
    RecordCursorPagination,
    contract_schema,
    idempotency_key,
    idempotency_parameter,
    json_body,
    page_parameters,
    page_response,
)
from sharing.contracts.batches import BATCH, batch_parse
from sharing.contracts.records import RESOLVE, RETRACT
from sharing.models import RecordKind, RecordStatus
from sharing.partners.selectors import origination_partners
from sharing.selectors import (
    batch_get,
    key_versions,
    record_get,
    record_list,
)
from sharing.services.idempotency import request_hash
from sharing.services.records import record_resolve, record_retract
from sharing.services.submission import batch_submit
from sharing.tlog.selectors import b64, record_log_position


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


class BatchSubmitApi(APIView):
    """Submit 1–10,000 records. Valid records are stored; invalid ones are listed in `errors`."""

    required_scope = "records:write"

    @extend_schema(
        operation_id="batch_submit",
        tags=["records"],
        parameters=[idempotency_parameter("batch")],
        **contract_schema(BATCH),
        responses={202: BatchOutputSerializer, **problem_responses(409, 413, 415, 422)},
    )
    def post(self, request):
        key = idempotency_key(request)
        body = json_body(request, wrong_type_message=_("Send the batch as application/json."))
        current, retired = key_versions()
        with gc_paused():  # 10,000 records' objects, none in a cycle
            check = batch_parse(
                body,
                today=business_today(),
                current_versions=current,
                retired_versions=retired,
                origination_partners=lambda: origination_partners(member_id=request.user.pk),
            )
        receipt = batch_submit(credential=request.auth, idempotency_key=key, body_hash=request_hash(body), check=check)
        return Response(receipt.answer, status=202)


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
    credit_limit = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    outstanding_balance = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    maturity_date = serializers.DateField(allow_null=True)
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
            *page_parameters(RecordCursorPagination),
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

    class DetailSerializer(RecordOutputSerializer):
        log_index = serializers.IntegerField(
            allow_null=True, help_text="The index of the record's latest change in the log; null until sequenced."
        )
        leaf_hash = serializers.CharField(allow_null=True, help_text="That leaf's hash, base64.")

    @extend_schema(
        operation_id="record_get", tags=["records"], responses={200: DetailSerializer, **problem_responses(404)}
    )
    def get(self, request, reference: str):
        record = record_get(member_id=request.user.pk, reference=reference)
        position = record_log_position(record_id=record.pk)
        record.log_index, record.leaf_hash = (None, None) if position is None else (position[0], b64(position[1]))
        return Response(self.DetailSerializer(record).data)


class RecordResolveApi(APIView):
    """The adverse event ended (e.g. the debt was repaid) on `resolved_date`."""

    required_scope = "records:write"

    @extend_schema(
        operation_id="record_resolve",
        tags=["records"],
        **contract_schema(RESOLVE),
        responses={200: RecordOutputSerializer, **problem_responses(404, 409, 413, 415)},
    )
    def post(self, request, reference: str):
        body = json_body(request, wrong_type_message=_("Send the resolution as application/json."))
        resolution = RESOLVE.parse(body, today=business_today())
        record = record_get(member_id=request.user.pk, reference=reference)
        record = record_resolve(
            actor=Actor.credential(request.auth), record=record, resolved_date=resolution.resolved_date
        )
        return Response(RecordOutputSerializer(record).data)


class RecordRetractApi(APIView):
    """Withdraw a record; it leaves lookups at once."""

    required_scope = "records:write"

    @extend_schema(
        operation_id="record_retract",
        tags=["records"],
        **contract_schema(RETRACT),
        responses={200: RecordOutputSerializer, **problem_responses(404, 409, 413, 415)},
    )
    def post(self, request, reference: str):
        body = json_body(request, wrong_type_message=_("Send the retraction as application/json."))
        retraction = RETRACT.parse(body)
        record = record_get(member_id=request.user.pk, reference=reference)
        record = record_retract(actor=Actor.credential(request.auth), record=record, reason=retraction.reason)
        return Response(RecordOutputSerializer(record).data)
