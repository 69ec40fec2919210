"""A test-only URLconf: views that exercise the shared API plumbing (scopes,
validation error format, unexpected errors) before real endpoints need them."""

from django.urls import include, path
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import urlpatterns as project_urlpatterns


class ProbeApi(APIView):
    required_scope = "lookups"

    class InputSerializer(serializers.Serializer):
        class ItemSerializer(serializers.Serializer):
            token = serializers.RegexField(r"^[0-9a-f]{64}$")

        purpose = serializers.ChoiceField(choices=["credit_application"])
        items = ItemSerializer(many=True)

    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response({"ok": True})


class CrashApi(APIView):
    required_scope = None

    def get(self, request):
        raise RuntimeError("secret internal detail")


urlpatterns = [
    path("probe", ProbeApi.as_view()),
    path("crash", CrashApi.as_view()),
    path("", include(project_urlpatterns)),
]
