"""Risk-policy disclosure cards: publish (scope policies); read every member's (any valid key)."""

from __future__ import annotations

import base64

import orjson
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import problem_responses
from core.clock import business_today
from members.audit import Actor
from sharing.apis.common import contract_schema, json_body
from sharing.contracts.policies import POLICY_CARD
from sharing.partners.selectors import policies_current, policy_versions
from sharing.services.policies import policy_publish


class PolicyCardSerializer(serializers.Serializer):
    """A card as the member published it, with the platform's signature over ``signed_document``."""

    class MemberSerializer(serializers.Serializer):
        uscc = serializers.CharField()
        name = serializers.CharField()

    class DeclineSerializer(serializers.Serializer):
        lenders = serializers.IntegerField(help_text="Other lenders with open loans at which the member declines.")

    class MonitoringSerializer(serializers.Serializer):
        watch_all_loans = serializers.BooleanField()
        review_days = serializers.IntegerField()

    member = MemberSerializer()
    version = serializers.IntegerField()
    max_credit_line = serializers.CharField(help_text="CNY, decimal string.")
    max_annual_rate = serializers.CharField(help_text='A fraction, e.g. "0.24".')
    multi_lending_decline = DeclineSerializer()
    post_loan_monitoring = MonitoringSerializer()
    collection_policy = serializers.CharField()
    partner_list_url = serializers.CharField(help_text="Empty when none was given.")
    effective_from = serializers.DateField()
    published_at = serializers.DateTimeField()
    signed_document = serializers.CharField(help_text="The exact JSON text the platform signed.")
    signature = serializers.CharField(
        help_text="Ed25519 over signed_document's UTF-8 bytes, base64; key: GET /api/v1/reports/public-key."
    )


def card_answer(card) -> dict:
    document = bytes(card.document)
    fields = orjson.loads(document)
    del fields["type"]
    return {
        **fields,
        "signed_document": document.decode(),
        "signature": base64.b64encode(bytes(card.signature)).decode(),
    }


class PolicyListApi(APIView):
    """Publish a new version of your card; read the card in effect of every active member."""

    def get_permissions(self):
        self.required_scope = "policies" if self.request.method == "POST" else None
        return super().get_permissions()

    @extend_schema(
        operation_id="policy_publish",
        tags=["policies"],
        description="Needs the scope `policies`. Versions are immutable; each is signed by the platform.",
        **contract_schema(POLICY_CARD),
        responses={201: PolicyCardSerializer, **problem_responses(409, 413, 415)},
    )
    def post(self, request):
        body = POLICY_CARD.parse(
            json_body(request, wrong_type_message=_("Send the card as application/json.")), today=business_today()
        )
        card = policy_publish(actor=Actor.credential(request.auth), member=request.user, body=body)
        return Response(card_answer(card), status=201)

    @extend_schema(
        operation_id="policy_list",
        tags=["policies"],
        responses={200: PolicyCardSerializer(many=True), **problem_responses()},
    )
    def get(self, request):
        return Response([card_answer(card) for card in policies_current(today=business_today())])


class PolicyVersionsApi(APIView):
    """Every version a member published, newest first (any valid key)."""

    @extend_schema(
        operation_id="policy_versions",
        tags=["policies"],
        parameters=[OpenApiParameter("uscc", str, OpenApiParameter.PATH, description="The member's USCC.")],
        responses={200: PolicyCardSerializer(many=True), **problem_responses(404)},
    )
    def get(self, request, uscc: str):
        return Response([card_answer(card) for card in policy_versions(uscc=uscc)])
