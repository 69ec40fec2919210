"""Liveness and readiness probes for the load balancer and orchestrator."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from kombu import Connection
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.openapi import response_example

_probe_schema = inline_serializer(
    "Probe",
    {
        "status": serializers.CharField(help_text=_("ok, or unavailable.")),
        "checks": serializers.DictField(
            required=False, help_text=_("Each dependency checked (database, broker): ok or unavailable.")
        ),
    },
)


class HealthzApi(APIView):
    """The process is alive and serving requests."""

    authentication_classes: list = []
    permission_classes: list = []

    @extend_schema(
        responses={200: _probe_schema},
        tags=["health"],
        summary=_("Liveness"),
        description=_("The process is alive and serving requests; it checks nothing else."),
        examples=[response_example({"status": "ok"})],
    )
    def get(self, request):
        return Response({"status": "ok"})


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        return False


def _broker_ok() -> bool:
    try:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:
        return False


class ReadyzApi(APIView):
    """The database is reachable, and the broker too when one is configured."""

    authentication_classes: list = []
    permission_classes: list = []

    @extend_schema(
        responses={
            200: OpenApiResponse(_probe_schema, description=_("Ready.")),
            503: OpenApiResponse(_probe_schema, description=_("Not ready: a dependency is unavailable.")),
        },
        tags=["health"],
        summary=_("Readiness"),
        description=_("The database is reachable, and the broker too when one is configured; 503 otherwise."),
        examples=[
            response_example({"status": "ok", "checks": {"database": "ok", "broker": "ok"}}),
            response_example(
                {"status": "unavailable", "checks": {"database": "unavailable", "broker": "ok"}}, status=503
            ),
        ],
    )
    def get(self, request):
        checks = {"database": "ok" if _database_ok() else "unavailable"}
        if settings.CELERY_BROKER_URL:
            checks["broker"] = "ok" if _broker_ok() else "unavailable"
        ready = all(value == "ok" for value in checks.values())
        return Response({"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)
