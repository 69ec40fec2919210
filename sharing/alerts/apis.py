"""The member API of alerts: the inbox and acknowledging one."""

from __future__ import annotations

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.openapi import response_example
from sharing.alerts.contracts import ACKNOWLEDGE
from sharing.alerts.models import Alert
from sharing.alerts.selectors import alert_get, alert_list
from sharing.alerts.services import alert_acknowledge, alert_payload_open
from sharing.common.apis import (
    PAGE_PARAMETERS,
    NewestFirstPagination,
    contract_schema,
    json_body,
    page_example,
    page_response,
    page_schema,
)


class AlertOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text=_("The alert's id."))
    kind = serializers.ChoiceField(
        choices=Alert.Kind.choices,
        help_text=_("dispute_filed, dispute_resolved, record_corrected or webhook_failing."),
    )
    payload = serializers.SerializerMethodField(
        help_text=_("Depends on the kind; see docs/api.md. Never names a reporting member.")
    )
    created_at = serializers.DateTimeField(help_text=_("When it was raised."))
    acknowledged_at = serializers.DateTimeField(
        allow_null=True, help_text=_("When a key of yours acknowledged it; null until then.")
    )

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_payload(self, alert) -> dict:
        return alert_payload_open(alert)


ALERT_EXAMPLE = {
    "id": 42,
    "kind": "dispute_filed",
    "payload": {
        "dispute_id": 77,
        "due_date": "2026-12-20",
        "reason": "The subject says the loan was taken in their name.",
        "statement": True,
        "records": [{"id": 1234, "reference": "LOAN-2026-0042"}],
    },
    "created_at": "2026-11-30T10:20:00Z",
    "acknowledged_at": None,
}


class AlertListApi(APIView):
    class AlertFilterSerializer(serializers.Serializer):
        unacknowledged = serializers.BooleanField(required=False, help_text=_("Only alerts nobody acknowledged yet."))

    @extend_schema(
        operation_id="alert_list",
        tags=["alerts"],
        summary=_("List your alerts"),
        description=_("Alerts to your institution, newest first; any valid key of the member may read them."),
        parameters=[AlertFilterSerializer, *PAGE_PARAMETERS],
        responses=page_schema("AlertPage", AlertOutputSerializer),
        examples=[page_example(ALERT_EXAMPLE, path="alerts")],
    )
    def get(self, request):
        filters = self.AlertFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        alerts = alert_list(member_id=request.user.pk, **filters.validated_data)
        return page_response(self, request, alerts, AlertOutputSerializer, NewestFirstPagination)


class AlertAcknowledgeApi(APIView):
    @extend_schema(
        operation_id="alert_acknowledge",
        tags=["alerts"],
        summary=_("Acknowledge an alert"),
        description=_("Mark an alert read for the whole institution; acknowledging it again changes nothing."),
        **contract_schema(ACKNOWLEDGE, response_example({**ALERT_EXAMPLE, "acknowledged_at": "2026-11-30T11:00:00Z"})),
        responses={200: AlertOutputSerializer},
    )
    def post(self, request, alert_id: int):
        ACKNOWLEDGE.parse(json_body(request, wrong_type_message=gettext("Send no body, or {}."), optional=True))
        alert = alert_get(member_id=request.user.pk, alert_id=alert_id)
        return Response(AlertOutputSerializer(alert_acknowledge(credential=request.auth, alert=alert)).data)
