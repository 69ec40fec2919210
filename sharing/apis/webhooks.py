"""Webhook endpoints (scope monitoring): register, list, delete, rotate the secret, replay, test."""

from __future__ import annotations

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.openapi import problems, response_example
from members.audit import Actor
from sharing.apis.common import (
    CheckedCursorPagination,
    contract_schema,
    json_body,
    page_example,
    page_parameters,
    page_response,
    page_schema,
)
from sharing.contracts.webhooks import REPLAY, WEBHOOK_ENDPOINT, endpoint_types
from sharing.monitoring.selectors import endpoint_get, endpoint_list
from sharing.services.webhook_endpoints import (
    endpoint_create,
    endpoint_delete,
    endpoint_replay,
    endpoint_secret_rotate,
    endpoint_test,
)


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
