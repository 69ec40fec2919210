"""Protective registration by a member for its own customer (scope disputes: a request made for the person)."""

from __future__ import annotations

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.openapi import problems, response_example
from sharing.common.apis import contract_schema, json_body
from sharing.protection.contracts import PROTECTIVE_REGISTRATION
from sharing.protection.services import protective_register_for_customer


class ProtectiveRegistrationApi(APIView):
    required_scope = "disputes"

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField(help_text=_("The registration's number; the person withdraws it at the desk."))
        since = serializers.DateTimeField(source="registered_at", help_text=_("At risk from this time."))
        expires_at = serializers.DateTimeField(help_text=_("Two years later, unless renewed at the desk."))

    @extend_schema(
        operation_id="protective_registration_create",
        tags=["disputes"],
        summary=_("Register a customer's identity as at risk"),
        description=_(
            "With the person's consent, mark your customer's identifiers as at risk (documents lost, stolen or "
            "misused) for two years: every member's lookup of them answers `identity_at_risk` (since when, never "
            "who registered it) and other members' watches get an `identity.at_risk` event. A protective mark, "
            "not a record. The person renews or withdraws it at the platform's desk."
        ),
        **contract_schema(
            PROTECTIVE_REGISTRATION,
            response_example(
                {"id": 17, "since": "2026-05-12T09:30:00Z", "expires_at": "2028-05-12T09:30:00Z"}, status=201
            ),
        ),
        responses={201: OutputSerializer},
        extensions=problems("already_registered", "unknown_key_version", "retired_key_version"),
    )
    def post(self, request):
        body = PROTECTIVE_REGISTRATION.parse(
            json_body(request, wrong_type_message=gettext("Send the registration as application/json."))
        )
        registration = protective_register_for_customer(
            credential=request.auth,
            identifiers=[(identifier.type, identifier.token) for identifier in body.identifiers],
            key_version=body.key_version,
            reason=body.reason,
            consent_reference=body.consent_reference,
        )
        return Response(self.OutputSerializer(registration).data, status=201)
