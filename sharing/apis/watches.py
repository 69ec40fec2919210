"""Watches and the monitoring feed (scope monitoring)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import problem_responses
from core.clock import business_today
from core.gcpause import gc_paused
from sharing.apis.common import (
    CheckedCursorPagination,
    contract_schema,
    idempotency_key,
    idempotency_parameter,
    json_body,
    page_parameters,
    page_response,
    page_schema,
)
from sharing.contracts.watches import WATCHES, watches_parse
from sharing.contracts.webhooks import MAX_EVENT_ID
from sharing.monitoring.selectors import event_document, event_feed, watch_get, watch_list
from sharing.selectors import key_versions
from sharing.services.idempotency import request_hash
from sharing.services.watches import watch_delete, watches_put

MAX_FEED_PAGE = 1000


class WatchCursorPagination(CheckedCursorPagination):
    ordering = ("id",)
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class WatchOutputSerializer(serializers.Serializer):
    reference = serializers.CharField()
    identifier_types = serializers.ListField(
        child=serializers.CharField(), help_text="Tokens are stored only keyed with the platform pepper."
    )
    consent_reference = serializers.CharField()
    key_version = serializers.IntegerField()
    expires_on = serializers.DateField()
    expired = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_expired(self, watch) -> bool:
        return watch.expires_on < business_today()


class WatchesPutApi(APIView):
    """Register 1–10,000 watches on your own borrowers; a reference sent again replaces its watch."""

    required_scope = "monitoring"

    class AnswerSerializer(serializers.Serializer):
        class WatchErrorSerializer(serializers.Serializer):
            index = serializers.IntegerField(help_text="Position of the watch in the submitted list, from 0.")
            field = serializers.CharField(help_text="JSON Pointer inside that watch; empty for the watch itself.")
            code = serializers.CharField()
            message = serializers.CharField()

        accepted = serializers.IntegerField()
        rejected = serializers.IntegerField()
        errors = WatchErrorSerializer(many=True)

    class FilterSerializer(serializers.Serializer):
        expired = serializers.BooleanField(required=False, allow_null=True, default=None)

    @extend_schema(
        operation_id="watches_put",
        tags=["monitoring"],
        parameters=[idempotency_parameter("request")],
        **contract_schema(WATCHES),
        responses={200: AnswerSerializer, **problem_responses(409, 413, 415, 422)},
    )
    def post(self, request):
        key = idempotency_key(request)
        body = json_body(request, wrong_type_message=_("Send the watches as application/json."))
        current, retired = key_versions()
        with gc_paused():  # 10,000 watches' objects, none in a cycle
            check = watches_parse(body, today=business_today(), current_versions=current, retired_versions=retired)
        answer = watches_put(credential=request.auth, idempotency_key=key, body_hash=request_hash(body), check=check)
        return Response(answer, status=200)

    @extend_schema(
        operation_id="watch_list",
        tags=["monitoring"],
        parameters=[FilterSerializer, *page_parameters(WatchCursorPagination)],
        responses=page_schema("WatchPage", WatchOutputSerializer),
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        watches = watch_list(member_id=request.user.pk, expired=filters.validated_data["expired"])
        return page_response(self, request, watches, WatchOutputSerializer, WatchCursorPagination)


class WatchDetailApi(APIView):
    required_scope = "monitoring"

    @extend_schema(
        operation_id="watch_get", tags=["monitoring"], responses={200: WatchOutputSerializer, **problem_responses(404)}
    )
    def get(self, request, reference: str):
        return Response(WatchOutputSerializer(watch_get(member_id=request.user.pk, reference=reference)).data)

    @extend_schema(operation_id="watch_delete", tags=["monitoring"], responses={204: None, **problem_responses(404)})
    def delete(self, request, reference: str):
        watch_delete(credential=request.auth, watch=watch_get(member_id=request.user.pk, reference=reference))
        return Response(status=204)


class EventFeedApi(APIView):
    """Your monitoring events after `after`, oldest first. Ask again with the last id you saw."""

    required_scope = "monitoring"

    class FeedFilterSerializer(serializers.Serializer):
        after = serializers.IntegerField(min_value=0, max_value=MAX_EVENT_ID, required=False, default=0)
        page_size = serializers.IntegerField(min_value=1, max_value=MAX_FEED_PAGE, required=False, default=100)

    class EventSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        type = serializers.CharField()
        created_at = serializers.DateTimeField()
        watch = serializers.CharField(help_text="The reference of your watch.")
        identifier_type = serializers.CharField(help_text="Which of the watch's identifiers matched.")
        data = serializers.DictField()

    @extend_schema(
        operation_id="monitoring_events",
        tags=["monitoring"],
        parameters=[FeedFilterSerializer],
        responses={
            200: inline_serializer(
                "MonitoringEventPage",
                {"results": EventSerializer(many=True), "last_id": serializers.IntegerField()},
            ),
            **problem_responses(),
        },
    )
    def get(self, request):
        filters = self.FeedFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        after = filters.validated_data["after"]
        events = event_feed(member_id=request.user.pk, after=after, limit=filters.validated_data["page_size"])
        results = [event_document(event) for event in events]
        return Response({"results": results, "last_id": results[-1]["id"] if results else after})
