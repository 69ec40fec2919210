"""Watches and the monitoring feed (scope monitoring)."""

from __future__ import annotations

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.clock import business_today
from core.openapi import problems, response_example
from sharing.apis.common import (
    CheckedCursorPagination,
    idempotency_key,
    idempotency_parameter,
    json_body,
    page_example,
    page_parameters,
    page_response,
    page_schema,
)
from sharing.contracts.base import EXAMPLE_TOKENS, struct_codes
from sharing.contracts_monitoring import WatchesIn, openapi_schema
from sharing.monitoring.selectors import event_document, event_feed, watch_get, watch_list
from sharing.services.watches import watch_delete, watches_put

MAX_FEED_PAGE = 1000


class WatchCursorPagination(CheckedCursorPagination):
    ordering = ("id",)
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class WatchOutputSerializer(serializers.Serializer):
    reference = serializers.CharField(help_text=_("Your id of the watch (the loan), unique among your watches."))
    identifier_types = serializers.ListField(
        child=serializers.CharField(), help_text=_("The types of its identifiers; tokens are stored only peppered.")
    )
    consent_reference = serializers.CharField(help_text=_("The borrower's consent, as sent."))
    key_version = serializers.IntegerField(help_text=_("The consortium key version its tokens were made with."))
    expires_on = serializers.DateField(help_text=_("The last day it is watched (the end of the loan's consent)."))
    expired = serializers.SerializerMethodField(help_text=_("Past its expires_on day: no more events."))
    created_at = serializers.DateTimeField(help_text=_("When it was first registered."))
    updated_at = serializers.DateTimeField(help_text=_("When it was last replaced."))

    def get_expired(self, watch) -> bool:
        return watch.expires_on < business_today()


WATCH_EXAMPLE = {
    "reference": "LOAN-2026-0042",
    "identifier_types": ["cn_resident_id", "cn_mobile"],
    "consent_reference": "CONSENT-2026-000123",
    "key_version": 1,
    "expires_on": "2027-10-15",
    "expired": False,
    "created_at": "2026-10-16T09:30:00Z",
    "updated_at": "2026-10-16T09:30:00Z",
}
WATCHES_REQUEST = {
    "key_version": 1,
    "consent_reference": "CONSENT-2026-000123",
    "watches": [
        {
            "reference": "LOAN-2026-0042",
            "identifiers": [
                {"type": "cn_resident_id", "token": EXAMPLE_TOKENS[0]},
                {"type": "cn_mobile", "token": EXAMPLE_TOKENS[1]},
            ],
            "expires_on": "2027-10-15",
        }
    ],
}


class WatchesPutApi(APIView):
    required_scope = "monitoring"

    class AnswerSerializer(serializers.Serializer):
        class WatchErrorSerializer(serializers.Serializer):
            index = serializers.IntegerField(help_text=_("Position of the watch in the submitted list, from 0."))
            field = serializers.CharField(help_text=_("JSON Pointer inside that watch; empty for the watch itself."))
            code = serializers.CharField(help_text=_("The problem's code (see docs/monitoring.md)."))
            message = serializers.CharField(help_text=_("The problem, in the request's language."))

        accepted = serializers.IntegerField(help_text=_("Watches registered or replaced."))
        rejected = serializers.IntegerField(help_text=_("Watches refused, each listed in errors."))
        errors = WatchErrorSerializer(many=True, help_text=_("One entry per refused watch."))

    class FilterSerializer(serializers.Serializer):
        expired = serializers.BooleanField(
            required=False, allow_null=True, default=None, help_text=_("Only expired (true) or live (false) watches.")
        )

    @extend_schema(
        operation_id="watches_put",
        tags=["monitoring"],
        summary=_("Register watches"),
        description=_(
            "Register 1–10,000 watches on your own borrowers under one consent reference; a reference sent again "
            "replaces its watch. Invalid watches are listed in `errors`, the valid ones are written, all or none. "
            "Watching never counts as an inquiry in anyone's multi-lending numbers."
        ),
        parameters=[idempotency_parameter("request")],
        request={"application/json": openapi_schema(WatchesIn)},
        responses={200: AnswerSerializer},
        examples=[
            OpenApiExample("One loan", value=WATCHES_REQUEST, request_only=True),
            response_example({"accepted": 1, "rejected": 0, "errors": []}),
        ],
        extensions=problems(
            *struct_codes(WatchesIn, descend=False), "bad_consent_reference", "unknown_key_version", "watch_limit"
        ),
    )
    def post(self, request):
        key = idempotency_key(request)
        body = json_body(request, wrong_type_message=gettext("Send the watches as application/json."))
        answer = watches_put(credential=request.auth, idempotency_key=key, body=body)
        return Response(answer, status=200)

    @extend_schema(
        operation_id="watch_list",
        tags=["monitoring"],
        summary=_("List your watches"),
        description=_("Your watches, in the order registered; page with `next`."),
        parameters=[FilterSerializer, *page_parameters(WatchCursorPagination)],
        responses=page_schema("WatchPage", WatchOutputSerializer),
        examples=[page_example(WATCH_EXAMPLE, path="watches")],
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        watches = watch_list(member_id=request.user.pk, expired=filters.validated_data["expired"])
        return page_response(self, request, watches, WatchOutputSerializer, WatchCursorPagination)


class WatchDetailApi(APIView):
    required_scope = "monitoring"

    @extend_schema(
        operation_id="watch_get",
        tags=["monitoring"],
        summary=_("One of your watches"),
        description=_("A watch by its reference."),
        responses={200: WatchOutputSerializer},
        examples=[response_example(WATCH_EXAMPLE)],
    )
    def get(self, request, reference: str):
        return Response(WatchOutputSerializer(watch_get(member_id=request.user.pk, reference=reference)).data)

    @extend_schema(
        operation_id="watch_delete",
        tags=["monitoring"],
        summary=_("Stop watching"),
        description=_("Delete a watch: no more events for it (the loan was repaid, or the consent withdrawn)."),
        responses={204: None},
    )
    def delete(self, request, reference: str):
        watch_delete(credential=request.auth, watch=watch_get(member_id=request.user.pk, reference=reference))
        return Response(status=204)


class EventFeedApi(APIView):
    required_scope = "monitoring"

    class FeedFilterSerializer(serializers.Serializer):
        after = serializers.IntegerField(
            min_value=0, required=False, default=0, help_text=_("The last event id you saw; 0 for the beginning.")
        )
        page_size = serializers.IntegerField(
            min_value=1, max_value=MAX_FEED_PAGE, required=False, default=100, help_text=_("Events a page.")
        )

    class EventSerializer(serializers.Serializer):
        id = serializers.IntegerField(help_text=_("The event's id, increasing."))
        type = serializers.CharField(help_text=_("record.reported, delinquency.escalated, inquiries.threshold, …"))
        created_at = serializers.DateTimeField(help_text=_("When it happened."))
        watch = serializers.CharField(help_text=_("The reference of your watch."))
        identifier_type = serializers.CharField(help_text=_("Which of the watch's identifiers matched."))
        data = serializers.DictField(help_text=_("Depends on the type; see docs/monitoring.md. Never names a member."))

    @extend_schema(
        operation_id="monitoring_events",
        tags=["monitoring"],
        summary=_("The monitoring feed"),
        description=_(
            "Your monitoring events after `after`, oldest first: changes that other members' reports caused to your "
            "watched borrowers. Ask again with `last_id`; webhooks deliver the same events."
        ),
        parameters=[FeedFilterSerializer],
        responses={
            200: inline_serializer(
                "MonitoringEventPage",
                {
                    "results": EventSerializer(many=True, help_text=_("Events, oldest first.")),
                    "last_id": serializers.IntegerField(help_text=_("Send it as `after` next time.")),
                },
            ),
        },
        examples=[
            response_example(
                {
                    "results": [
                        {
                            "id": 90311,
                            "type": "delinquency.escalated",
                            "created_at": "2026-11-30T03:00:00Z",
                            "watch": "LOAN-2026-0042",
                            "identifier_type": "cn_resident_id",
                            "data": {"bucket": 60, "category": "overdue", "overdue_days": 63},
                        }
                    ],
                    "last_id": 90311,
                }
            )
        ],
    )
    def get(self, request):
        filters = self.FeedFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        after = filters.validated_data["after"]
        events = event_feed(member_id=request.user.pk, after=after, limit=filters.validated_data["page_size"])
        results = [event_document(event) for event in events]
        return Response({"results": results, "last_id": results[-1]["id"] if results else after})
