"""Webhook endpoints (scope monitoring): register, list, delete, rotate the secret, replay, test."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import problem_responses
from members.audit import Actor
from sharing.apis.common import (
    CheckedCursorPagination,
    contract_schema,
    json_body,
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
    id = serializers.IntegerField()
    url = serializers.URLField()
    types = serializers.ListField(child=serializers.CharField(), help_text="Empty: every event type.")
    status = serializers.CharField(help_text="active, failing (dead letters since the last success) or disabled (410).")
    last_success_at = serializers.DateTimeField(allow_null=True)
    consecutive_failures = serializers.IntegerField()
    previous_secret_until = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class SecretSerializer(EndpointSerializer):
    secret = serializers.CharField(help_text="whsec_ + base64 of 32 bytes; shown only in this answer.")


def _with_secret(endpoint, secret: str) -> dict:
    return {**EndpointSerializer(endpoint).data, "secret": secret}


class EndpointListApi(APIView):
    required_scope = "monitoring"

    @extend_schema(
        operation_id="webhook_endpoint_create",
        tags=["monitoring"],
        **contract_schema(WEBHOOK_ENDPOINT),
        responses={201: SecretSerializer, **problem_responses(413, 415)},
    )
    def post(self, request):
        body = json_body(request, wrong_type_message=_("Send the endpoint as application/json."))
        data = WEBHOOK_ENDPOINT.parse(body)
        endpoint, secret = endpoint_create(
            actor=Actor.credential(request.auth), member_id=request.user.pk, url=data.url, types=endpoint_types(data)
        )
        return Response(_with_secret(endpoint, secret), status=201)

    @extend_schema(
        operation_id="webhook_endpoint_list",
        tags=["monitoring"],
        parameters=page_parameters(EndpointPagination),
        responses=page_schema("WebhookEndpointPage", EndpointSerializer),
    )
    def get(self, request):
        endpoints = endpoint_list(member_id=request.user.pk)
        return page_response(self, request, endpoints, EndpointSerializer, EndpointPagination)


class EndpointDetailApi(APIView):
    required_scope = "monitoring"

    @extend_schema(
        operation_id="webhook_endpoint_get",
        tags=["monitoring"],
        responses={200: EndpointSerializer, **problem_responses(404)},
    )
    def get(self, request, endpoint_id: int):
        return Response(EndpointSerializer(endpoint_get(member_id=request.user.pk, endpoint_id=endpoint_id)).data)

    @extend_schema(
        operation_id="webhook_endpoint_delete", tags=["monitoring"], responses={204: None, **problem_responses(404)}
    )
    def delete(self, request, endpoint_id: int):
        endpoint = endpoint_get(member_id=request.user.pk, endpoint_id=endpoint_id)
        endpoint_delete(actor=Actor.credential(request.auth), endpoint=endpoint)
        return Response(status=204)


class EndpointRotateApi(APIView):
    """A new signing secret; the old one also signs for 24 hours."""

    required_scope = "monitoring"

    @extend_schema(
        operation_id="webhook_endpoint_rotate_secret",
        tags=["monitoring"],
        request=None,
        responses={200: SecretSerializer, **problem_responses(404)},
    )
    def post(self, request, endpoint_id: int):
        endpoint = endpoint_get(member_id=request.user.pk, endpoint_id=endpoint_id)
        endpoint, secret = endpoint_secret_rotate(actor=Actor.credential(request.auth), endpoint=endpoint)
        return Response(_with_secret(endpoint, secret))


class EndpointReplayApi(APIView):
    """Send again every event after `after` (dead letters included) and re-activate the endpoint."""

    required_scope = "monitoring"

    @extend_schema(
        operation_id="webhook_endpoint_replay",
        tags=["monitoring"],
        **contract_schema(REPLAY),
        responses={
            202: inline_serializer("ReplayAnswer", {"queued": serializers.IntegerField()}),
            **problem_responses(404, 413, 415),
        },
    )
    def post(self, request, endpoint_id: int):
        body = json_body(request, wrong_type_message=_("Send the replay as application/json."))
        data = REPLAY.parse(body)
        endpoint = endpoint_get(member_id=request.user.pk, endpoint_id=endpoint_id)
        queued = endpoint_replay(actor=Actor.credential(request.auth), endpoint=endpoint, after=data.after)
        return Response({"queued": queued}, status=202)


class EndpointTestApi(APIView):
    """Queue a signed `ping` delivery to the endpoint."""

    required_scope = "monitoring"

    @extend_schema(
        operation_id="webhook_endpoint_test",
        tags=["monitoring"],
        request=None,
        responses={
            202: inline_serializer("PingAnswer", {"webhook_id": serializers.CharField()}),
            **problem_responses(404),
        },
    )
    def post(self, request, endpoint_id: int):
        endpoint = endpoint_get(member_id=request.user.pk, endpoint_id=endpoint_id)
        delivery = endpoint_test(actor=Actor.credential(request.auth), endpoint=endpoint)
        return Response({"webhook_id": delivery.message_id}, status=202)
