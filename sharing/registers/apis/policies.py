"""Risk-policy disclosure cards: publish (scope policies); read every member's (any valid key)."""

from __future__ import annotations

import base64

import orjson
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.clock import business_today
from core.openapi import problems, response_example
from members.audit import Actor
from sharing.common.apis import contract_schema, json_body
from sharing.registers.contracts import POLICY_CARD
from sharing.registers.selectors import policies_current, policy_versions
from sharing.registers.services import policy_publish


class PolicyCardSerializer(serializers.Serializer):
    """A card as the member published it, with the platform's signature over ``signed_document``."""

    class MemberSerializer(serializers.Serializer):
        uscc = serializers.CharField(help_text=_("The member's USCC."))
        name = serializers.CharField(help_text=_("The member's name."))

    class DeclineSerializer(serializers.Serializer):
        lenders = serializers.IntegerField(help_text=_("Other lenders with open loans at which the member declines."))

    class MonitoringSerializer(serializers.Serializer):
        watch_all_loans = serializers.BooleanField(help_text=_("Every open loan is under a watch."))
        review_days = serializers.IntegerField(help_text=_("Each borrower is reviewed this often, in days."))

    class ReliefPolicySerializer(serializers.Serializer):
        kinds = serializers.ListField(
            child=serializers.CharField(),
            help_text=_("The relief offered: extension, deferral, restructuring, reduced_payment."),
        )
        offered_to = serializers.CharField(help_text=_("To whom the member offers it."))
        how_to_ask = serializers.CharField(help_text=_("How a borrower asks for it."))

    member = MemberSerializer(help_text=_("The member that published the card."))
    version = serializers.IntegerField(help_text=_("1 for the first card, then one more per version."))
    max_credit_line = serializers.CharField(help_text=_("The most credit extended to one borrower, CNY."))
    max_annual_rate = serializers.CharField(help_text=_('The highest annual rate, as a fraction, e.g. "0.24".'))
    multi_lending_decline = DeclineSerializer(help_text=_("When the member declines applicants borrowing elsewhere."))
    post_loan_monitoring = MonitoringSerializer(help_text=_("How the member watches its borrowers after lending."))
    collection_policy = serializers.CharField(help_text=_("How the member collects overdue debts."))
    partner_list_url = serializers.CharField(help_text=_("Where it publishes its partner list; empty when none."))
    relief_policy = ReliefPolicySerializer(
        allow_null=True,
        help_text=_("The relief offered to borrowers in difficulty (展期、延期还款、债务重组); null when not stated."),
    )
    effective_from = serializers.DateField(help_text=_("The first day this version applies."))
    published_at = serializers.DateTimeField(help_text=_("When it was published."))
    signed_document = serializers.CharField(help_text=_("The exact JSON text the platform signed."))
    signature = serializers.CharField(
        help_text=_("Ed25519 over signed_document's UTF-8 bytes, base64; key: GET /api/v1/reports/public-key.")
    )


def card_answer(card) -> dict:
    document = bytes(card.document)
    fields = orjson.loads(document)
    del fields["type"]
    return {
        "relief_policy": None,
        **fields,
        "signed_document": document.decode(),
        "signature": base64.b64encode(bytes(card.signature)).decode(),
    }


CARD_EXAMPLE = {
    "member": {"uscc": "91110000MA00000152", "name": "示例消费金融有限公司"},
    "version": 3,
    "max_credit_line": "200000.00",
    "max_annual_rate": "0.24",
    "multi_lending_decline": {"lenders": 4},
    "post_loan_monitoring": {"watch_all_loans": True, "review_days": 30},
    "collection_policy": "逾期 3 天内短信提醒；不在 21 时至次日 8 时催收；不联系借款人以外的第三人。",
    "partner_list_url": "https://bank.example.cn/partners",
    "effective_from": "2027-01-01",
    "relief_policy": {
        "kinds": ["extension", "deferral", "restructuring"],
        "offered_to": "逾期 30 天以上或收入中断的借款人，经评估还款能力后提供。",
        "how_to_ask": "拨打客服热线或在 App 内提交申请，5 个工作日内答复。",
    },
    "published_at": "2026-12-02T03:00:00Z",
    "signed_document": '{"collection_policy":"…","effective_from":"2027-01-01","type":"riskshare.policy_card.v1"}',
    "signature": "q3Fh0bq0e2mW0b0b4mXb9o1zQw6hV4f0g1xkqzq2m8s7sX2v3X2M3r3yqgU6m2qf0sEw0b8p5yQm4a9cQ8tXCg==",
}


class PolicyListApi(APIView):
    def get_permissions(self):
        self.required_scope = "policies" if self.request.method == "POST" else None
        return super().get_permissions()

    @extend_schema(
        operation_id="policy_publish",
        tags=["policies"],
        summary=_("Publish a new version of your card"),
        description=_(
            "Needs the scope `policies`. Versions are numbered and immutable; each is signed by the platform's "
            "Ed25519 key. A version takes effect from today to a year ahead, never before your latest version."
        ),
        **contract_schema(POLICY_CARD, response_example(CARD_EXAMPLE, status=201)),
        responses={201: PolicyCardSerializer},
        extensions=problems("effective_before_current"),
    )
    def post(self, request):
        body = POLICY_CARD.parse(
            json_body(request, wrong_type_message=gettext("Send the card as application/json.")), today=business_today()
        )
        card = policy_publish(actor=Actor.credential(request.auth), member=request.user, body=body)
        return Response(card_answer(card), status=201)

    @extend_schema(
        operation_id="policy_list",
        tags=["policies"],
        summary=_("Read every member's card in effect"),
        description=_(
            "For every active member that published one, its card in effect today (its latest version effective "
            "by today), by member name. Any valid key."
        ),
        responses={200: PolicyCardSerializer(many=True)},
        examples=[response_example(CARD_EXAMPLE)],  # drf-spectacular lists it
    )
    def get(self, request):
        return Response([card_answer(card) for card in policies_current(today=business_today())])


class PolicyVersionsApi(APIView):
    @extend_schema(
        operation_id="policy_versions",
        tags=["policies"],
        summary=_("Read a member's card history"),
        description=_("Every version the member published, newest first; 404 when it published none. Any valid key."),
        parameters=[OpenApiParameter("uscc", str, OpenApiParameter.PATH, description=_("The member's USCC."))],
        responses={200: PolicyCardSerializer(many=True)},
        examples=[response_example(CARD_EXAMPLE)],  # drf-spectacular lists it
        extensions=problems("not_found"),
    )
    def get(self, request, uscc: str):
        return Response([card_answer(card) for card in policy_versions(uscc=uscc)])
