"""Lookups (scope lookups): up to 10,000 identifiers against every member's reports."""

from __future__ import annotations

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
from sharing.apis.common import json_body
from sharing.identifiers import ID_TYPES
from sharing.selectors import (
    lookup_get,
)
from sharing.services.lookups import answer_unpack, lookup_answer, lookup_request_parse


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
        request=inline_serializer(
            "LookupInput",
            {
                "purpose": serializers.ChoiceField(
                    choices=["credit_application", "account_opening", "post_loan_monitoring", "fraud_investigation"]
                ),
                "consent_reference": serializers.RegexField(
                    r"^[^\x00-\x1f\x7f]{1,200}$",
                    required=False,
                    help_text="Required for credit_application and account_opening; 1–200 printable characters.",
                ),
                "key_version": serializers.IntegerField(help_text="A current consortium key version."),
                "identifiers": inline_serializer(
                    "LookupIdentifier",
                    {
                        "type": serializers.ChoiceField(choices=ID_TYPES),
                        "token": serializers.RegexField(r"^[0-9a-f]{64}$"),
                    },
                    many=True,
                    min_length=1,
                    max_length=10_000,
                ),
            },
        ),
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
            # Rendered by the service while PostgreSQL writes the log, not after the commit.
            answer = lookup_answer(credential=request.auth, request=lookup_request_parse(body))
        return HttpResponse(answer, content_type="application/json")


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
        return Response(self.LookupDetailSerializer(past).data)
