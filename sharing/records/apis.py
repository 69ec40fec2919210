"""Batches and records (scope records:write)."""

from __future__ import annotations

from django.utils.translation import gettext, gettext_lazy
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.clock import business_today
from core.gcpause import gc_paused
from core.openapi import problems, response_example
from members.audit import Actor
from sharing.common.apis import (
    RecordCursorPagination,
    contract_schema,
    idempotency_key,
    idempotency_parameter,
    json_body,
    page_example,
    page_parameters,
    page_response,
    page_serializer,
)
from sharing.records.contracts import BATCH, RESOLVE, RETRACT, batch_parse
from sharing.records.idempotency import request_hash
from sharing.records.models import Batch, RecordKind, RecordStatus
from sharing.records.selectors import batch_get, batch_receipt, record_get, record_list
from sharing.records.services import record_resolve, record_retract
from sharing.records.submission import batch_submit
from sharing.registers.selectors import origination_partners
from sharing.tlog.apis import CHECKPOINT_EXAMPLE, LEAF_HASH_EXAMPLE
from sharing.tlog.selectors import record_log_position
from sharing.tlog.services import b64, log_read_audit
from sharing.tokens.selectors import key_versions


class BatchOutputSerializer(serializers.Serializer):
    class ErrorSerializer(serializers.Serializer):
        index = serializers.IntegerField(help_text=_("Position of the record in the submitted list, from 0."))
        field = serializers.CharField(help_text=_("JSON Pointer inside that record; empty for the record itself."))
        code = serializers.CharField(help_text=_("The problem's code (see docs/api.md)."))
        message = serializers.CharField(help_text=_("The problem, in the request's language."))

    id = serializers.IntegerField(help_text=_("The batch's id, for GET /api/v1/batches/{id}."))
    status = serializers.ChoiceField(
        choices=Batch.Status.choices,
        help_text=_("received → processing → done once its records are matched; failed if matching gave up."),
    )
    received = serializers.IntegerField(help_text=_("Records in the request."))
    accepted = serializers.IntegerField(help_text=_("Records stored."))
    rejected = serializers.IntegerField(help_text=_("Records refused, each listed in errors."))
    errors = ErrorSerializer(many=True, help_text=_("One entry per problem of a refused record."))


RECORD_EXAMPLE = {
    "reference": "LOAN-2026-0042",
    "kind": "delinquency",
    "category": "overdue",
    "status": "active",
    "event_date": "2026-09-01",
    "resolved_date": None,
    "overdue_days": 45,
    "overdue_amount": "12500.00",
    "currency": "CNY",
    "product": "consumer_loan",
    "credit_limit": None,
    "outstanding_balance": None,
    "maturity_date": None,
    "relief": "deferral",
    "relief_start": "2026-10-20",
    "relief_end": None,
    "new_maturity_date": None,
    "key_version": 1,
    "identifier_types": ["cn_resident_id", "cn_mobile"],
    "retract_reason": "",
    "created_at": "2026-10-16T09:30:00Z",
    "updated_at": "2026-10-16T09:30:00Z",
}
LOAN_RECORD_EXAMPLE = {
    **RECORD_EXAMPLE,
    "reference": "LOAN-2026-0077",
    "kind": "loan",
    "category": "open",
    "event_date": "2026-08-15",
    "overdue_days": None,
    "overdue_amount": None,
    "credit_limit": "50000.00",
    "outstanding_balance": "31250.00",
    "maturity_date": "2027-08-15",
    "relief": "",
    "relief_start": None,
    "new_maturity_date": None,
    "updated_at": "2026-11-15T09:30:00Z",
}
BATCH_EXAMPLE = {
    "id": 812,
    "status": "received",
    "received": 2,
    "accepted": 1,
    "rejected": 1,
    "errors": [{"index": 1, "field": "/overdue_days", "code": "min_value", "message": "This value is too small."}],
}


class BatchSubmitApi(APIView):
    required_scope = "records:write"

    @extend_schema(
        operation_id="batch_submit",
        tags=["records"],
        summary=_("Submit a batch of records"),
        description=_(
            "Submit 1–10,000 records. Valid records are stored at once and matched in the background; "
            "invalid ones are listed in `errors` of the 202 answer, each with its index, field and code. "
            "A record whose `reference` you sent before is updated, keeping its history."
        ),
        parameters=[idempotency_parameter("batch")],
        **contract_schema(BATCH, response_example(BATCH_EXAMPLE, status=202)),
        responses={202: BatchOutputSerializer},
    )
    def post(self, request):
        key = idempotency_key(request)
        body = json_body(request, wrong_type_message=gettext("Send the batch as application/json."))
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
    required_scope = "records:write"

    class BatchStatusSerializer(BatchOutputSerializer):
        created_at = serializers.DateTimeField(help_text=_("When the batch was received."))
        processed_at = serializers.DateTimeField(allow_null=True, help_text=_("When matching finished; null before."))

    @extend_schema(
        operation_id="batch_get",
        tags=["records"],
        summary=_("A batch's status"),
        description=_("A batch's status and counts: received → processing → done (its records matched)."),
        responses={200: BatchStatusSerializer},
        examples=[
            response_example(
                {
                    **BATCH_EXAMPLE,
                    "status": "done",
                    "created_at": "2026-10-16T09:30:00Z",
                    "processed_at": "2026-10-16T09:30:04Z",
                }
            )
        ],
    )
    def get(self, request, batch_id: int):
        batch = batch_get(member_id=request.user.pk, batch_id=batch_id)
        return Response(self.BatchStatusSerializer(batch).data)


class RecordOutputSerializer(serializers.Serializer):
    reference = serializers.CharField(help_text=_("Your own id of the record, unique among your records."))
    kind = serializers.CharField(help_text=_("blacklist, delinquency or loan."))
    category = serializers.CharField(help_text=_("The category within the kind (docs/api.md)."))
    status = serializers.CharField(help_text=_("active, resolved, retracted, or disputed while a dispute is open."))
    event_date = serializers.DateField(
        help_text=_("The adverse event's day (the first missed payment); for a loan, the day it was opened.")
    )
    resolved_date = serializers.DateField(
        allow_null=True, help_text=_("The day it ended (a loan: closed); null while it lasts.")
    )
    overdue_days = serializers.IntegerField(allow_null=True, help_text=_("Days overdue (overdue records only)."))
    overdue_amount = serializers.DecimalField(
        max_digits=14, decimal_places=2, allow_null=True, help_text=_("Amount overdue, CNY (overdue records only).")
    )
    currency = serializers.CharField(help_text=_("The amounts' currency: CNY, or empty."))
    product = serializers.CharField(help_text=_("The loan product (overdue records and loans), or empty."))
    credit_limit = serializers.DecimalField(
        max_digits=14, decimal_places=2, allow_null=True, help_text=_("The credit limit, CNY (loans only).")
    )
    outstanding_balance = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        allow_null=True,
        help_text=_("What was owed at the latest report, CNY (loans only)."),
    )
    maturity_date = serializers.DateField(
        allow_null=True, help_text=_("When the loan ends, if it was given (loans only).")
    )
    relief = serializers.CharField(
        help_text=_(
            "The relief agreed with the borrower (extension, deferral, restructuring, reduced_payment), or empty."
        )
    )
    relief_start = serializers.DateField(allow_null=True, help_text=_("The day the relief began; null without relief."))
    relief_end = serializers.DateField(allow_null=True, help_text=_("The day the relief ended; null while it runs."))
    new_maturity_date = serializers.DateField(allow_null=True, help_text=_("An extension's new maturity date."))
    key_version = serializers.IntegerField(help_text=_("The consortium key version its tokens were made with."))
    identifier_types = serializers.ListField(
        child=serializers.CharField(),
        help_text=_("The types of its identifiers; tokens are stored only keyed with the platform pepper."),
    )
    retract_reason = serializers.CharField(help_text=_("Why you retracted it; empty otherwise."))
    created_at = serializers.DateTimeField(help_text=_("When it was first reported."))
    updated_at = serializers.DateTimeField(help_text=_("When it last changed."))


class RecordListApi(APIView):
    required_scope = "records:write"

    class RecordFilterSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=RecordKind.values, required=False, help_text=_("Only this kind."))
        status = serializers.ChoiceField(choices=RecordStatus.values, required=False, help_text=_("Only this status."))
        updated_since = serializers.DateTimeField(
            required=False, help_text=_("Only records changed at or after this time (ISO 8601, with its offset).")
        )

        def to_internal_value(self, data):
            # An empty ?status= is a mistake, not "no filter".
            empty = [name for name in self.fields if data.get(name, None) == ""]
            if empty:
                raise serializers.ValidationError({name: [gettext("Give a value, or leave it out.")] for name in empty})
            return super().to_internal_value(data)

    @extend_schema(
        operation_id="record_list",
        tags=["records"],
        summary=_("List your records"),
        description=_("Your own records, oldest change first; page with `next`. Another member's are never shown."),
        parameters=[RecordFilterSerializer, *page_parameters(RecordCursorPagination)],
        responses={200: page_serializer("RecordPage", RecordOutputSerializer)},
        examples=[page_example(RECORD_EXAMPLE, LOAN_RECORD_EXAMPLE, path="records")],
    )
    def get(self, request):
        filters = self.RecordFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        records = record_list(member_id=request.user.pk, **filters.validated_data)
        return page_response(self, request, records, RecordOutputSerializer, RecordCursorPagination)


class RecordDetailApi(APIView):
    required_scope = "records:write"

    class RecordDetailSerializer(RecordOutputSerializer):
        log_index = serializers.IntegerField(
            allow_null=True,
            help_text=_("The index of the record's latest change in the verifiable log; null until sequenced."),
        )
        leaf_hash = serializers.CharField(allow_null=True, help_text=_("That leaf's hash, base64; null with it."))

    @extend_schema(
        operation_id="record_get",
        tags=["records"],
        summary=_("One of your records"),
        description=_(
            "One of your records by its reference, with where its latest change is in the verifiable log; "
            "another member's is not found, like a missing one."
        ),
        responses={200: RecordDetailSerializer},
        examples=[
            response_example(
                {**RECORD_EXAMPLE, "log_index": 1037, "leaf_hash": "n5EWH0NDPkmm3m22gNefYBWfLkrJFyYhoShGQoFYRAs="}
            )
        ],
    )
    def get(self, request, reference: str):
        record = record_get(member_id=request.user.pk, reference=reference)
        position = record_log_position(record_id=record.pk)
        record.log_index, record.leaf_hash = (None, None) if position is None else (position[0], b64(position[1]))
        return Response(self.RecordDetailSerializer(record).data)


class RecordResolveApi(APIView):
    required_scope = "records:write"

    @extend_schema(
        operation_id="record_resolve",
        tags=["records"],
        summary=_("Resolve a record"),
        description=_(
            "The adverse event ended (e.g. the debt was repaid) on `resolved_date`. Lookups show the record as "
            "ended at once; it is kept five years from that day, then purged."
        ),
        **contract_schema(
            RESOLVE, response_example({**RECORD_EXAMPLE, "status": "resolved", "resolved_date": "2026-11-20"})
        ),
        responses={200: RecordOutputSerializer},
        extensions=problems("record_not_active", "date_order"),
    )
    def post(self, request, reference: str):
        body = json_body(request, wrong_type_message=gettext("Send the resolution as application/json."))
        resolution = RESOLVE.parse(body, today=business_today())
        record = record_get(member_id=request.user.pk, reference=reference)
        record = record_resolve(
            actor=Actor.credential(request.auth), record=record, resolved_date=resolution.resolved_date
        )
        return Response(RecordOutputSerializer(record).data)


class RecordRetractApi(APIView):
    required_scope = "records:write"

    @extend_schema(
        operation_id="record_retract",
        tags=["records"],
        summary=_("Retract a record"),
        description=_(
            "Withdraw a record reported in error; it leaves lookups at once. A retracted reference stays retracted."
        ),
        **contract_schema(
            RETRACT, response_example({**RECORD_EXAMPLE, "status": "retracted", "retract_reason": "Reported in error."})
        ),
        responses={200: RecordOutputSerializer},
        extensions=problems("already_retracted"),
    )
    def post(self, request, reference: str):
        body = json_body(request, wrong_type_message=gettext("Send the retraction as application/json."))
        retraction = RETRACT.parse(body)
        record = record_get(member_id=request.user.pk, reference=reference)
        record = record_retract(actor=Actor.credential(request.auth), record=record, reason=retraction.reason)
        return Response(RecordOutputSerializer(record).data)


class BatchReceiptApi(APIView):
    """Where your batch's changes are in the log: a signed checkpoint, each leaf's index, hash and salt."""

    required_scope = None

    class ReceiptSerializer(serializers.Serializer):
        class ReceiptLeafSerializer(serializers.Serializer):
            reference = serializers.CharField(
                allow_null=True, help_text=gettext_lazy("The record's reference; null once the record is purged.")
            )
            index = serializers.IntegerField(help_text=gettext_lazy("The leaf's index in the log."))
            kind = serializers.CharField(help_text=gettext_lazy("The change: reported or updated."))
            member = serializers.IntegerField(help_text=gettext_lazy("Your member id, as the leaf names it."))
            time = serializers.IntegerField(
                help_text=gettext_lazy("The leaf's time, milliseconds since 1970-01-01T00:00:00Z.")
            )
            leaf_hash = serializers.CharField(help_text=gettext_lazy("The leaf's hash, base64."))
            salt = serializers.CharField(
                allow_null=True,
                help_text=gettext_lazy("The record's salt, base64 of 16 bytes; null once the record is purged."),
            )

        checkpoint = serializers.CharField(help_text=gettext_lazy("The signed checkpoint the leaves are under."))
        tree_size = serializers.IntegerField(help_text=gettext_lazy("That checkpoint's tree size."))
        leaves = ReceiptLeafSerializer(
            many=True, help_text=gettext_lazy("One leaf per change the batch made, in order.")
        )

    @extend_schema(
        operation_id="batch_receipt",
        tags=["log"],
        summary=gettext_lazy("Where your batch is in the log"),
        description=gettext_lazy(
            "The receipt of one of your batches: the signed checkpoint its changes are under, and for each leaf "
            "its index, kind, time, hash and the record's salt. Keep it: with the salt and the record you sent, "
            "you can rebuild each leaf and prove it is in the log. Until the changes are in a signed checkpoint "
            "(about a minute after matching), the receipt is pending."
        ),
        responses={200: ReceiptSerializer},
        examples=[
            response_example(
                {
                    "checkpoint": CHECKPOINT_EXAMPLE,
                    "tree_size": 1042,
                    "leaves": [
                        {
                            "reference": "LOAN-2026-0042",
                            "index": 1037,
                            "kind": "reported",
                            "member": 12,
                            "time": 1764655118123,
                            "leaf_hash": LEAF_HASH_EXAMPLE,
                            "salt": "BDpxh3TFcr2KJa2+sb/NXA==",
                        }
                    ],
                }
            )
        ],
        extensions=problems("receipt_pending"),
    )
    def get(self, request, batch_id: int):
        receipt = batch_receipt(member_id=request.user.pk, batch_id=batch_id)
        log_read_audit(actor=Actor.credential(request.auth), what="receipt", batch=batch_id)
        return Response({"checkpoint": receipt.checkpoint, "tree_size": receipt.tree_size, "leaves": receipt.leaves})
