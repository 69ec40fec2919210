"""Lookups (scope lookups): up to 10,000 identifiers against every member's reports."""

from __future__ import annotations

import orjson
from django.http import HttpResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import LimitReached
from core.gcpause import gc_paused
from core.openapi import problems, response_example
from sharing.common.apis import NO_STORE, contract_schema, json_body
from sharing.common.contracts import EXAMPLE_TOKENS
from sharing.lookups.contracts import LOOKUP
from sharing.lookups.ratelimit import ratelimit_headers
from sharing.lookups.selectors import lookup_get
from sharing.lookups.services import answer_unpack, lookup_answer


class LookupResultSerializer(serializers.Serializer):
    class BlacklistSerializer(serializers.Serializer):
        active = serializers.BooleanField(help_text=_("An active blacklist record names the token."))
        categories = serializers.ListField(
            child=serializers.CharField(), help_text=_("The active blacklist records' categories.")
        )
        last_reported = serializers.DateField(allow_null=True, help_text=_("The latest report's day; null if none."))

    class DelinquencySerializer(serializers.Serializer):
        active_records = serializers.IntegerField(help_text=_("Active delinquency records naming the token."))
        max_overdue_days = serializers.IntegerField(help_text=_("The most days overdue among them."))
        total_overdue_amount = serializers.CharField(help_text=_("Their total amount overdue: a decimal string, CNY."))
        latest_event_date = serializers.DateField(
            allow_null=True, help_text=_("The latest first missed payment among them; null if none.")
        )
        under_relief = serializers.IntegerField(
            help_text=_("How many of them are under an agreed relief arrangement, not an escalating default.")
        )

    class ExposureSerializer(serializers.Serializer):
        class YoursSerializer(serializers.Serializer):
            open_loans = serializers.IntegerField(help_text=_("Your own open loans on the token."))
            total_outstanding = serializers.CharField(
                help_text=_("What is owed on them: a decimal string, CNY (0.00 when none).")
            )

        class ExposureReliefSerializer(serializers.Serializer):
            lenders = serializers.IntegerField(
                help_text=_(
                    "Distinct members with a relief arrangement running on a loan or delinquency (you included)."
                )
            )
            since = serializers.DateField(allow_null=True, help_text=_("The earliest start among them; null if none."))
            kinds = serializers.ListField(
                child=serializers.CharField(),
                help_text=_("Their kinds: extension, deferral, restructuring, reduced_payment."),
            )
            yours = serializers.BooleanField(help_text=_("One of them is yours."))

        lenders = serializers.IntegerField(help_text=_("Distinct members with an open loan (you included)."))
        open_loans = serializers.IntegerField(help_text=_("Open loans on the token, at every member."))
        total_credit_limit = serializers.CharField(help_text=_("Their total credit limit: a decimal string, CNY."))
        total_outstanding = serializers.CharField(help_text=_("What is owed on them: a decimal string, CNY."))
        latest_opened = serializers.DateField(
            allow_null=True,
            help_text=_("The latest opening date among the open loans; null without one (relief alone)."),
        )
        stale_loans = serializers.IntegerField(
            help_text=_("Open loans whose latest report is older than 45 days: their balances may be out of date.")
        )
        yours = YoursSerializer(help_text=_("Your own share of the totals, to subtract them."))
        relief = ExposureReliefSerializer(
            help_text=_(
                "Relief (展期、延期还款、债务重组) the person is in: how many lenders, since when; never which."
            )
        )

    class InquiriesSerializer(serializers.Serializer):
        members_30d = serializers.IntegerField(help_text=_("Distinct other members in the last 30 days."))
        members_90d = serializers.IntegerField(help_text=_("Distinct other members in the last 90 days."))

    class IdentityAtRiskSerializer(serializers.Serializer):
        since = serializers.DateField(help_text=_("The day the person registered the identity as at risk."))

    type = serializers.CharField(help_text=_("The identifier type, as sent."))
    token = serializers.CharField(help_text=_("The token, as sent."))
    hit = serializers.BooleanField(help_text=_("Some member reports the token in an active record."))
    reporting_members = serializers.IntegerField(help_text=_("Distinct members with an active record (you included)."))
    reported_by_you = serializers.BooleanField(help_text=_("One of those records is yours."))
    blacklist = BlacklistSerializer(help_text=_("What blacklist records say of the token."))
    delinquency = DelinquencySerializer(help_text=_("What delinquency records say of the token."))
    exposure = ExposureSerializer(
        allow_null=True,
        help_text=_(
            "Open loans (共债) and relief arrangements at every member, yours included; null when nobody reports "
            "either."
        ),
    )
    inquiries = InquiriesSerializer(
        help_text=_("Distinct other members whose credit_application/account_opening lookups named the token.")
    )
    disputed = serializers.BooleanField(
        help_text=_("A record behind the answer is under dispute (or was unverifiable).")
    )
    statement = serializers.BooleanField(help_text=_("The subject attached a statement (本人声明) through a dispute."))
    identity_at_risk = IdentityAtRiskSerializer(
        allow_null=True,
        help_text=_(
            "The person registered this identity as at risk (lost, stolen or misused documents): verify the "
            "applicant more carefully. A protective mark, not adverse information; null when none is in force."
        ),
    )


class MeLookupQuotaSerializer(serializers.Serializer):
    """The ``lookup_quota`` section of ``GET /api/v1/me`` (``sharing.lookups.ratelimit.me_lookup_quota``)."""

    class QuotaSerializer(serializers.Serializer):
        class WindowSerializer(serializers.Serializer):
            limit = serializers.IntegerField(help_text=_("The window's quota."))
            remaining = serializers.IntegerField(help_text=_("What remains of it now."))
            resets_in_seconds = serializers.IntegerField(help_text=_("Seconds until the window starts again."))

        requests_per_minute = WindowSerializer(help_text=_("Lookup requests, per minute."))
        identifiers_per_day = WindowSerializer(help_text=_("Identifiers looked up, per day (UTC)."))

    lookup_quota = QuotaSerializer(help_text=_("What remains of the key's lookup quota now."))


RESULT_EXAMPLE = {
    "type": "cn_resident_id",
    "token": EXAMPLE_TOKENS[0],
    "hit": True,
    "reporting_members": 2,
    "reported_by_you": False,
    "blacklist": {"active": True, "categories": ["identity_fraud"], "last_reported": "2026-10-02"},
    "delinquency": {
        "active_records": 1,
        "max_overdue_days": 45,
        "total_overdue_amount": "12500.00",
        "latest_event_date": "2026-09-01",
        "under_relief": 1,
    },
    "exposure": {
        "lenders": 3,
        "open_loans": 4,
        "total_credit_limit": "150000.00",
        "total_outstanding": "98200.50",
        "latest_opened": "2026-11-20",
        "stale_loans": 1,
        "yours": {"open_loans": 1, "total_outstanding": "20000.00"},
        "relief": {"lenders": 2, "since": "2026-10-15", "kinds": ["deferral", "extension"], "yours": False},
    },
    "inquiries": {"members_30d": 4, "members_90d": 7},
    "disputed": False,
    "statement": False,
    "identity_at_risk": None,
}
MISS_EXAMPLE = {
    **RESULT_EXAMPLE,
    "type": "cn_mobile",
    "token": EXAMPLE_TOKENS[1],
    "hit": False,
    "reporting_members": 0,
    "blacklist": {"active": False, "categories": [], "last_reported": None},
    "delinquency": {
        "active_records": 0,
        "max_overdue_days": 0,
        "total_overdue_amount": "0.00",
        "latest_event_date": None,
        "under_relief": 0,
    },
    "exposure": None,
    "inquiries": {"members_30d": 0, "members_90d": 0},
    "identity_at_risk": {"since": "2026-05-12"},
}

# The lookup quota's headers (sharing.lookups.ratelimit), on every answer of a lookup, a refusal included.
RATELIMIT_HEADERS = [
    OpenApiParameter(
        "RateLimit-Policy",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        response=[200, 429],
        description=_(
            'The key\'s lookup quota (IETF httpapi RateLimit draft): `"minute";q=600;w=60, '
            '"day";q=2000000;w=86400;qu="identifiers"`, requests a minute and identifiers a day.'
        ),
    ),
    OpenApiParameter(
        "RateLimit",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        response=[200, 429],
        description=_('What remains of each window and the seconds until it resets: `"minute";r=599;t=42, ...`.'),
    ),
]


class LookupApi(APIView):
    required_scope = "lookups"

    @extend_schema(
        operation_id="lookup_create",
        tags=["lookups"],
        summary=_("Look up identifiers"),
        description=_(
            "Check up to 10,000 tokens against every member's reports, for a purpose; the answer never says who "
            "reported. Every lookup is logged and counts in the multi-lending numbers (`inquiries`) of the "
            "credit_application and account_opening purposes, which need the subject's consent reference.\n\n"
            "Rate limit: the key's lookup quota, requests a minute and identifiers a day (`GET /api/v1/me` shows "
            "what remains); every answer carries `RateLimit-Policy` and `RateLimit`."
        ),
        parameters=RATELIMIT_HEADERS,
        **contract_schema(
            LOOKUP, response_example({"id": 5012, "results": [RESULT_EXAMPLE, MISS_EXAMPLE]}, name="A hit and a miss")
        ),
        responses={
            200: inline_serializer(
                "LookupAnswer",
                {
                    "id": serializers.IntegerField(help_text=_("The lookup's id, for GET /api/v1/lookups/{id}.")),
                    "results": LookupResultSerializer(many=True, help_text=_("One result per identifier, in order.")),
                },
            ),
            # Its problem document comes from core.openapi; declared here to carry the quota's headers.
            429: OpenApiResponse(description=_("The lookup quota is spent.")),
        },
        extensions=problems("throttled", "unknown_key_version", "retired_key_version"),
    )
    def post(self, request):
        body = json_body(request, wrong_type_message=gettext("Send the lookup as application/json."))
        try:
            with gc_paused():  # up to 10,000 identifiers and results: no cycles among them
                answer = lookup_answer(credential=request.auth, request=LOOKUP.parse(body))
                rendered = orjson.dumps({"id": answer.id, "results": answer.results})
        except LimitReached as refusal:
            refusal.headers = ratelimit_headers(credential=request.auth)
            raise
        headers = {**NO_STORE, **ratelimit_headers(credential=request.auth)}
        return HttpResponse(rendered, content_type="application/json", headers=headers)


class LookupDetailApi(APIView):
    required_scope = "lookups"

    class LookupDetailSerializer(serializers.Serializer):
        id = serializers.IntegerField(help_text=_("The lookup's id."))
        purpose = serializers.CharField(help_text=_("The purpose it was made for."))
        consent_reference = serializers.CharField(help_text=_("The consent reference sent; empty if none."))
        created_at = serializers.DateTimeField(help_text=_("When it was made."))
        results = LookupResultSerializer(many=True, help_text=_("The answer as it was given."))

    @extend_schema(
        operation_id="lookup_get",
        tags=["lookups"],
        summary=_("A past lookup"),
        description=_("A past answer, as it was given, to the member that asked; it does not count as a new lookup."),
        responses={200: LookupDetailSerializer},
        examples=[
            response_example(
                {
                    "id": 5012,
                    "purpose": "credit_application",
                    "consent_reference": "CONSENT-2026-000123",
                    "created_at": "2026-11-30T10:12:00Z",
                    "results": [RESULT_EXAMPLE],
                }
            )
        ],
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
