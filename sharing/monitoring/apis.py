"""Watches and the monitoring feed (scope monitoring)."""

from __future__ import annotations

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.clock import business_today
from core.gcpause import gc_paused
from core.openapi import problems, response_example
from members.audit import Actor
from sharing.common.apis import (
    CheckedCursorPagination,
    contract_schema,
    idempotency_key,
    idempotency_parameter,
    json_body,
    page_example,
    page_parameters,
    page_response,
    page_schema,
)
from sharing.monitoring.contracts import MAX_EVENT_ID, REPLAY, WATCHES, WEBHOOK_ENDPOINT, endpoint_types, watches_parse
from sharing.monitoring.selectors import endpoint_get, endpoint_list, event_document, event_feed, watch_get, watch_list
from sharing.monitoring.services import (
    endpoint_create,
    endpoint_delete,
    endpoint_replay,
    endpoint_secret_rotate,
    endpoint_test,
    watch_delete,
    watches_put,
)
from sharing.records.idempotency import request_hash
from sharing.tokens.selectors import key_versions

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
        **contract_schema(WATCHES, response_example({"accepted": 2, "rejected": 0, "errors": []})),
        responses={200: AnswerSerializer},
        # watch_limit: the member's limit refuses the request (409) when no watch of it would fit.
        extensions=problems("watch_limit"),
    )
    def post(self, request):
        key = idempotency_key(request)
        body = json_body(request, wrong_type_message=gettext("Send the watches as application/json."))
        current, retired = key_versions()
        with gc_paused():  # 10,000 watches' objects, none in a cycle
            check = watches_parse(body, today=business_today(), current_versions=current, retired_versions=retired)
        answer = watches_put(credential=request.auth, idempotency_key=key, body_hash=request_hash(body), check=check)
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
            min_value=0,
            max_value=MAX_EVENT_ID,
            required=False,
            default=0,
            help_text=_("The last event id you saw; 0 for the beginning."),
        )
        page_size = serializers.IntegerField(
            min_value=1, max_value=MAX_FEED_PAGE, required=False, default=100, help_text=_("Events a page.")
        )

    class EventSerializer(serializers.Serializer):
        id = serializers.IntegerField(help_text=_("The event's id, increasing."))
        type = serializers.CharField(
            help_text=_(
                "record.reported, delinquency.escalated, inquiries.threshold, record.ended, dispute.opened, "
                "dispute.settled, loan.opened (another lender opened a loan), exposure.increased (other lenders' "
                "outstanding total rose), relief.started or relief.ended (another lender's relief arrangement)."
            )
        )
        created_at = serializers.DateTimeField(help_text=_("When it happened."))
        watch = serializers.CharField(help_text=_("The reference of your watch."))
        identifier_type = serializers.CharField(help_text=_("Which of the watch's identifiers matched."))
        data = serializers.DictField(
            help_text=_(
                "Depends on the type (docs/monitoring.md); loan.opened: credit_limit, product; exposure.increased: "
                "total_outstanding, previous, open_loans, lenders; relief.started: kind, relief, start, "
                "new_maturity_date; relief.ended: kind, relief, start, how, end. Never names a member."
            )
        )

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
                        },
                        {
                            "id": 90312,
                            "type": "loan.opened",
                            "created_at": "2026-11-30T03:05:00Z",
                            "watch": "LOAN-2026-0042",
                            "identifier_type": "cn_mobile",
                            "data": {"credit_limit": "30000.00", "product": "consumer_loan"},
                        },
                        {
                            "id": 90313,
                            "type": "exposure.increased",
                            "created_at": "2026-11-30T03:05:00Z",
                            "watch": "LOAN-2026-0042",
                            "identifier_type": "cn_resident_id",
                            "data": {
                                "total_outstanding": "58000.00",
                                "previous": "28000.00",
                                "open_loans": 3,
                                "lenders": 2,
                            },
                        },
                        {
                            "id": 90314,
                            "type": "relief.started",
                            "created_at": "2026-12-01T02:00:00Z",
                            "watch": "LOAN-2026-0042",
                            "identifier_type": "cn_resident_id",
                            "data": {"kind": "delinquency", "relief": "deferral", "start": "2026-11-28"},
                        },
                    ],
                    "last_id": 90314,
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


# Webhook endpoints (scope monitoring): register, list, delete, rotate the secret, replay, test.
class EndpointPagination(CheckedCursorPagination):
    ordering = ("id",)
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500


class EndpointSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text=_("The endpoint's id."))
    url = serializers.URLField(help_text=_("Where deliveries are POSTed (HTTPS, a public address)."))
    types = serializers.ListField(child=serializers.CharField(), help_text=_("Event types sent; empty: every type."))
    status = serializers.CharField(
        help_text=_("active, failing (dead letters since the last success) or disabled (the endpoint answered 410).")
    )
    last_success_at = serializers.DateTimeField(allow_null=True, help_text=_("The last delivery it accepted."))
    consecutive_failures = serializers.IntegerField(help_text=_("Failed attempts since then."))
    previous_secret_until = serializers.DateTimeField(
        allow_null=True, help_text=_("After a rotation, the old secret also signs until then; else null.")
    )
    created_at = serializers.DateTimeField(help_text=_("When it was registered."))


class SecretSerializer(EndpointSerializer):
    secret = serializers.CharField(help_text=_("whsec_ + base64 of 32 bytes; shown only in this answer."))


ENDPOINT_EXAMPLE = {
    "id": 5,
    "url": "https://hooks.lender.example/riskshare",
    "types": ["record.reported", "delinquency.escalated"],
    "status": "active",
    "last_success_at": "2026-11-30T03:00:02Z",
    "consecutive_failures": 0,
    "previous_secret_until": None,
    "created_at": "2026-10-01T10:00:00Z",
}
SECRET_EXAMPLE = {**ENDPOINT_EXAMPLE, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}


def _with_secret(endpoint, secret: str) -> dict:
    return {**EndpointSerializer(endpoint).data, "secret": secret}


class EndpointListApi(APIView):
    required_scope = "monitoring"

    @extend_schema(
        operation_id="webhook_endpoint_create",
        tags=["monitoring"],
        summary=_("Register a webhook endpoint"),
        description=_(
            "Deliveries of your monitoring events, signed per Standard Webhooks with the secret of the answer "
            "(shown once), retried on its schedule. The URL must be HTTPS and resolve to a public address."
        ),
        **contract_schema(
            WEBHOOK_ENDPOINT,
            response_example(
                {**SECRET_EXAMPLE, "last_success_at": None, "created_at": "2026-12-02T10:00:00Z"}, status=201
            ),
        ),
        responses={201: SecretSerializer},
        extensions=problems("url_not_allowed"),
    )
    def post(self, request):
        body = json_body(request, wrong_type_message=gettext("Send the endpoint as application/json."))
        data = WEBHOOK_ENDPOINT.parse(body)
        endpoint, secret = endpoint_create(
            actor=Actor.credential(request.auth), member_id=request.user.pk, url=data.url, types=endpoint_types(data)
        )
        return Response(_with_secret(endpoint, secret), status=201)

    @extend_schema(
        operation_id="webhook_endpoint_list",
        tags=["monitoring"],
        summary=_("List your webhook endpoints"),
        description=_("Your webhook endpoints, in the order registered, with their delivery health."),
        parameters=page_parameters(EndpointPagination),
        responses=page_schema("WebhookEndpointPage", EndpointSerializer),
        examples=[page_example(ENDPOINT_EXAMPLE, path="webhook-endpoints")],
    )
    def get(self, request):
        endpoints = endpoint_list(member_id=request.user.pk)
        return page_response(self, request, endpoints, EndpointSerializer, EndpointPagination)


class EndpointDetailApi(APIView):
    required_scope = "monitoring"

    @extend_schema(
        operation_id="webhook_endpoint_get",
        tags=["monitoring"],
        summary=_("One webhook endpoint"),
        description=_("A webhook endpoint and its delivery health."),
        responses={200: EndpointSerializer},
        examples=[response_example(ENDPOINT_EXAMPLE)],
    )
    def get(self, request, endpoint_id: int):
        return Response(EndpointSerializer(endpoint_get(member_id=request.user.pk, endpoint_id=endpoint_id)).data)

    @extend_schema(
        operation_id="webhook_endpoint_delete",
        tags=["monitoring"],
        summary=_("Delete a webhook endpoint"),
        description=_("No more deliveries to it; the events stay in the feed."),
        responses={204: None},
    )
    def delete(self, request, endpoint_id: int):
        endpoint = endpoint_get(member_id=request.user.pk, endpoint_id=endpoint_id)
        endpoint_delete(actor=Actor.credential(request.auth), endpoint=endpoint)
        return Response(status=204)


class EndpointRotateApi(APIView):
    required_scope = "monitoring"

    @extend_schema(
        operation_id="webhook_endpoint_rotate_secret",
        tags=["monitoring"],
        summary=_("Rotate the signing secret"),
        description=_("A new signing secret, shown once; the old one also signs for 24 hours."),
        request=None,
        responses={200: SecretSerializer},
        examples=[response_example({**SECRET_EXAMPLE, "previous_secret_until": "2026-12-03T10:00:00Z"})],
    )
    def post(self, request, endpoint_id: int):
        endpoint = endpoint_get(member_id=request.user.pk, endpoint_id=endpoint_id)
        endpoint, secret = endpoint_secret_rotate(actor=Actor.credential(request.auth), endpoint=endpoint)
        return Response(_with_secret(endpoint, secret))


class EndpointReplayApi(APIView):
    required_scope = "monitoring"

    @extend_schema(
        operation_id="webhook_endpoint_replay",
        tags=["monitoring"],
        summary=_("Replay events"),
        description=_("Send again every event after `after` (dead letters included) and re-activate the endpoint."),
        **contract_schema(REPLAY, response_example({"queued": 312}, status=202)),
        responses={
            202: inline_serializer(
                "ReplayAnswer", {"queued": serializers.IntegerField(help_text=_("Deliveries queued."))}
            ),
        },
    )
    def post(self, request, endpoint_id: int):
        body = json_body(request, wrong_type_message=gettext("Send the replay as application/json."))
        data = REPLAY.parse(body)
        endpoint = endpoint_get(member_id=request.user.pk, endpoint_id=endpoint_id)
        queued = endpoint_replay(actor=Actor.credential(request.auth), endpoint=endpoint, after=data.after)
        return Response({"queued": queued}, status=202)


class EndpointTestApi(APIView):
    required_scope = "monitoring"

    @extend_schema(
        operation_id="webhook_endpoint_test",
        tags=["monitoring"],
        summary=_("Send a test delivery"),
        description=_("Queue a signed `ping` delivery to the endpoint."),
        request=None,
        responses={
            202: inline_serializer(
                "PingAnswer",
                {"webhook_id": serializers.CharField(help_text=_("The delivery's webhook-id header."))},
            ),
        },
        examples=[response_example({"webhook_id": "msg_2Hq8cV1c7aQ"}, status=202)],
    )
    def post(self, request, endpoint_id: int):
        endpoint = endpoint_get(member_id=request.user.pk, endpoint_id=endpoint_id)
        delivery = endpoint_test(actor=Actor.credential(request.auth), endpoint=endpoint)
        return Response({"webhook_id": delivery.message_id}, status=202)
