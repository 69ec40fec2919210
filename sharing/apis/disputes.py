"""Disputes (scope disputes) and alerts (any valid key)."""

from __future__ import annotations

import msgspec
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import problem_responses
from sharing.apis.common import (
    PAGE_PARAMETERS,
    NewestFirstPagination,
    contract_schema,
    json_body,
    page_response,
    page_schema,
)
from sharing.contracts.disputes import DISPUTE
from sharing.contracts.records import ACKNOWLEDGE
from sharing.models import Alert, Dispute
from sharing.selectors import (
    alert_get,
    alert_list,
    dispute_get,
    dispute_list,
)
from sharing.services.alerts import alert_acknowledge, alert_payload_open
from sharing.services.disputes import DisputeIdentifier, dispute_file


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

    @extend_schema(
        operation_id="dispute_file",
        tags=["disputes"],
        **contract_schema(DISPUTE),
        responses={201: DisputeOutputSerializer, **problem_responses(404, 413, 415, 429)},
    )
    def post(self, request):
        filing = DISPUTE.parse(json_body(request, wrong_type_message=_("Send the dispute as application/json.")))
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
        parameters=PAGE_PARAMETERS,
        responses=page_schema("DisputePage", DisputeOutputSerializer),
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
        parameters=[AlertFilterSerializer, *PAGE_PARAMETERS],
        responses=page_schema("AlertPage", AlertOutputSerializer),
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
        **contract_schema(ACKNOWLEDGE),
        responses={200: AlertOutputSerializer, **problem_responses(404, 413, 415)},
    )
    def post(self, request, alert_id: int):
        ACKNOWLEDGE.parse(json_body(request, wrong_type_message=_("Send no body, or {}."), optional=True))
        alert = alert_get(member_id=request.user.pk, alert_id=alert_id)
        return Response(AlertOutputSerializer(alert_acknowledge(credential=request.auth, alert=alert)).data)
