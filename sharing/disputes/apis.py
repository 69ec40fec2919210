"""Disputes (scope disputes) and alerts (any valid key)."""

from __future__ import annotations

import msgspec
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.openapi import problems, response_example
from sharing.common.apis import (
    PAGE_PARAMETERS,
    NewestFirstPagination,
    contract_schema,
    json_body,
    page_example,
    page_response,
    page_schema,
)
from sharing.disputes.contracts import DISPUTE
from sharing.disputes.models import Dispute
from sharing.disputes.selectors import dispute_get, dispute_list
from sharing.disputes.services import DisputeIdentifier, dispute_file


class DisputeOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text=_("The dispute's id."))
    status = serializers.ChoiceField(
        choices=Dispute.Status.choices, help_text=_("open, or the outcome: corrected, confirmed, unverifiable.")
    )
    received_at = serializers.DateTimeField(help_text=_("When the platform received it."))
    due_date = serializers.DateField(help_text=_("Operators settle the dispute by this day (20 days after receipt)."))
    record = serializers.IntegerField(
        source="record_id", allow_null=True, help_text=_("The one record disputed, if it named one; else null.")
    )
    records_disputed = serializers.IntegerField(help_text=_("Records marked disputed when the dispute was accepted."))
    reason = serializers.CharField(help_text=_("The subject's objection."))
    statement = serializers.CharField(help_text=_("The subject's statement; empty when none was given."))
    settled_at = serializers.DateTimeField(allow_null=True, help_text=_("When it was settled; null while open."))
    settlement_note = serializers.CharField(help_text=_("The operator's note on the outcome; empty while open."))


DISPUTE_EXAMPLE = {
    "id": 77,
    "status": "open",
    "received_at": "2026-11-30T10:20:00Z",
    "due_date": "2026-12-20",
    "record": 1234,
    "records_disputed": 1,
    "reason": "The subject says the loan was taken in their name.",
    "statement": "本人声明：该笔贷款非本人申请。",
    "settled_at": None,
    "settlement_note": "",
}


class DisputeListApi(APIView):
    required_scope = "disputes"

    @extend_schema(
        operation_id="dispute_file",
        tags=["disputes"],
        summary=_("File a dispute"),
        description=_(
            "File a data subject's objection to the records that carry these tokens (or to the one record named). "
            "Those records are marked disputed at once, in every member's lookups, and the operators settle the "
            "dispute within 20 days. A member files at most a set number a day."
        ),
        **contract_schema(DISPUTE, response_example(DISPUTE_EXAMPLE, status=201)),
        responses={201: DisputeOutputSerializer},
        extensions=problems("nothing_to_dispute", "not_found", "unknown_key_version", "retired_key_version"),
    )
    def post(self, request):
        filing = DISPUTE.parse(json_body(request, wrong_type_message=gettext("Send the dispute as application/json.")))
        dispute = dispute_file(
            credential=request.auth,
            identifiers=[DisputeIdentifier(i.type, i.token) for i in filing.identifiers],
            key_version=filing.key_version,
            reason=filing.reason,
            statement="" if filing.statement is msgspec.UNSET else filing.statement,
            record_id=None if filing.record is msgspec.UNSET else filing.record,
        )
        return Response(DisputeOutputSerializer(dispute).data, status=201)

    @extend_schema(
        operation_id="dispute_list",
        tags=["disputes"],
        summary=_("List your disputes"),
        description=_("The disputes you filed, newest first; page with `next`."),
        parameters=PAGE_PARAMETERS,
        responses=page_schema("DisputePage", DisputeOutputSerializer),
        examples=[page_example(DISPUTE_EXAMPLE, path="disputes")],
    )
    def get(self, request):
        disputes = dispute_list(member_id=request.user.pk)
        return page_response(self, request, disputes, DisputeOutputSerializer, NewestFirstPagination)


class DisputeDetailApi(APIView):
    required_scope = "disputes"

    @extend_schema(
        operation_id="dispute_get",
        tags=["disputes"],
        summary=_("One of your disputes"),
        description=_("A dispute you filed, with its outcome once settled."),
        responses={200: DisputeOutputSerializer},
        examples=[
            response_example(
                {
                    **DISPUTE_EXAMPLE,
                    "status": "corrected",
                    "settled_at": "2026-12-08T15:00:00Z",
                    "settlement_note": "The reporting member retracted the record.",
                }
            )
        ],
    )
    def get(self, request, dispute_id: int):
        return Response(DisputeOutputSerializer(dispute_get(member_id=request.user.pk, dispute_id=dispute_id)).data)
