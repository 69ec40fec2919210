"""Webhook endpoints (scope monitoring): register, list, delete, rotate the secret, replay, test."""

from __future__ import annotations

import msgspec
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import DomainError, MalformedBody
from core.openapi import problems, response_example
from members.audit import Actor
from sharing.apis.common import (
    CheckedCursorPagination,
    json_body,
    page_example,
    page_parameters,
    page_response,
    page_schema,
)
from sharing.contracts.base import struct_codes
from sharing.contracts_monitoring import ReplayIn, WebhookEndpointIn, openapi_schema, problem_of
from sharing.monitoring.selectors import endpoint_get, endpoint_list
from sharing.services.webhook_endpoints import (
    endpoint_create,
    endpoint_delete,
    endpoint_replay,
    endpoint_secret_rotate,
    endpoint_test,
)


def decode(request, struct: type):
    """The body as ``struct``; its first problem as a 400 with the field and code it names."""
    body = json_body(request, wrong_type_message=gettext("Send the body as application/json."))
    try:
        return msgspec.json.decode(body, type=struct)
    except msgspec.ValidationError as exc:
        field, code = problem_of(exc)
        raise DomainError(str(exc).split(" - at `")[0], code=code, field=field) from None
    except msgspec.DecodeError:
        raise MalformedBody(gettext("The request body is not valid JSON.")) from None


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
        request={"application/json": openapi_schema(WebhookEndpointIn)},
        responses={201: SecretSerializer},
        examples=[
            OpenApiExample(
                "Two event types",
                value={"url": ENDPOINT_EXAMPLE["url"], "types": ENDPOINT_EXAMPLE["types"]},
                request_only=True,
            ),
            response_example(
                {**SECRET_EXAMPLE, "last_success_at": None, "created_at": "2026-12-02T10:00:00Z"}, status=201
            ),
        ],
        extensions=problems(*struct_codes(WebhookEndpointIn), "url_not_allowed"),
    )
    def post(self, request):
        data = decode(request, WebhookEndpointIn)
        endpoint, secret = endpoint_create(
            actor=Actor.credential(request.auth), member_id=request.user.pk, url=data.url, types=list(data.types)
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
        request={"application/json": openapi_schema(ReplayIn)},
        responses={
            202: inline_serializer(
                "ReplayAnswer", {"queued": serializers.IntegerField(help_text=_("Deliveries queued."))}
            ),
        },
        examples=[
            OpenApiExample("Since event 90000", value={"after": 90000}, request_only=True),
            response_example({"queued": 312}, status=202),
        ],
        extensions=problems(*struct_codes(ReplayIn)),
    )
    def post(self, request, endpoint_id: int):
        data = decode(request, ReplayIn)
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
