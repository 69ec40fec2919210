"""Disputes (scope disputes) and alerts (any valid key)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import problem_responses
from sharing.apis.common import PAGE_PARAMETERS, NewestFirstPagination, page_response, page_schema
from sharing.identifiers import ID_TYPES
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
        request=None,
        responses={200: AlertOutputSerializer, **problem_responses(404)},
    )
    def post(self, request, alert_id: int):
        alert = alert_get(member_id=request.user.pk, alert_id=alert_id)
        return Response(AlertOutputSerializer(alert_acknowledge(credential=request.auth, alert=alert)).data)
