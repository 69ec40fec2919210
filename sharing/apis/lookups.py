"""Lookups (scope lookups): up to 10,000 identifiers against every member's reports."""

from __future__ import annotations

import orjson
from django.http import HttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.utils import (
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import problem_responses
from core.gcpause import gc_paused
from sharing.apis.common import NO_STORE, contract_schema, json_body
from sharing.contracts.lookups import LOOKUP
from sharing.ratelimit import ratelimit_headers
from sharing.selectors import (
    lookup_get,
)
from sharing.services.lookups import answer_unpack, lookup_answer


class LookupResultSerializer(serializers.Serializer):
    class BlacklistSerializer(serializers.Serializer):
        active = serializers.BooleanField()
        categories = serializers.ListField(child=serializers.CharField())
        last_reported = serializers.DateField(allow_null=True)

    class DelinquencySerializer(serializers.Serializer):
        active_records = serializers.IntegerField()
        max_overdue_days = serializers.IntegerField()
        total_overdue_amount = serializers.CharField(help_text="Decimal string, CNY.")
        latest_event_date = serializers.DateField(allow_null=True)

    class ExposureSerializer(serializers.Serializer):
        class YoursSerializer(serializers.Serializer):
            open_loans = serializers.IntegerField()
            total_outstanding = serializers.CharField(help_text="Decimal string, CNY.")

        lenders = serializers.IntegerField(help_text="Distinct members with an open loan (you included).")
        open_loans = serializers.IntegerField()
        total_credit_limit = serializers.CharField(help_text="Decimal string, CNY.")
        total_outstanding = serializers.CharField(help_text="Decimal string, CNY.")
        latest_opened = serializers.DateField(help_text="The latest opening date among the open loans.")
        stale_loans = serializers.IntegerField(help_text="Open loans whose latest report is older than 45 days.")
        yours = YoursSerializer(help_text="Your own share of the totals, to subtract them.")

    class InquiriesSerializer(serializers.Serializer):
        members_30d = serializers.IntegerField()
        members_90d = serializers.IntegerField()

    type = serializers.CharField()
    token = serializers.CharField()
    hit = serializers.BooleanField()
    reporting_members = serializers.IntegerField(help_text="Distinct members with an active record (you included).")
    reported_by_you = serializers.BooleanField()
    blacklist = BlacklistSerializer()
    delinquency = DelinquencySerializer()
    exposure = ExposureSerializer(
        allow_null=True, help_text="Open loans (共债) at every member, yours included; null when nobody reports one."
    )
    inquiries = InquiriesSerializer(
        help_text="Distinct other members whose credit_application/account_opening lookups named the token."
    )
    disputed = serializers.BooleanField(help_text="A record behind the answer is under dispute (or was unverifiable).")
    statement = serializers.BooleanField(help_text="The subject attached a statement (本人声明) through a dispute.")


class LookupApi(APIView):
    """Check up to 10,000 identifiers against every member's reports. Never says who reported."""

    required_scope = "lookups"

    @extend_schema(
        operation_id="lookup_create",
        tags=["lookups"],
        **contract_schema(LOOKUP),
        responses={
            200: inline_serializer(
                "LookupAnswer", {"id": serializers.IntegerField(), "results": LookupResultSerializer(many=True)}
            ),
            **problem_responses(413, 415, 429),
        },
    )
    def post(self, request):
        body = json_body(request, wrong_type_message=_("Send the lookup as application/json."))
        with gc_paused():  # up to 10,000 identifiers and results: no cycles among them
            answer = lookup_answer(credential=request.auth, request=LOOKUP.parse(body))
            rendered = orjson.dumps({"id": answer.id, "results": answer.results})
        headers = {**NO_STORE, **ratelimit_headers(credential=request.auth)}
        return HttpResponse(rendered, content_type="application/json", headers=headers)


class LookupDetailApi(APIView):
    """A past answer, to the member that asked."""

    required_scope = "lookups"

    class LookupDetailSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        purpose = serializers.CharField()
        consent_reference = serializers.CharField()
        created_at = serializers.DateTimeField()
        results = LookupResultSerializer(many=True)

    @extend_schema(
        operation_id="lookup_get",
        tags=["lookups"],
        responses={200: LookupDetailSerializer, **problem_responses(404)},
    )
    def get(self, request, lookup_id: int):
        lookup = lookup_get(member_id=request.user.pk, lookup_id=lookup_id)
        past = {
            "id": lookup.pk,
            "purpose": lookup.purpose,
            "consent_reference": lookup.consent_reference,
            "created_at": lookup.created_at,
            "results": answer_unpack(lookup.answer, lookup_id=lookup.pk),
        }
        return Response(self.LookupDetailSerializer(past).data, headers=NO_STORE)
