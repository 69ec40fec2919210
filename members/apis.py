"""Member-facing API of the members app."""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import problem_responses


class CredentialMeApi(APIView):
    """Who am I: the member and credential behind the presented API key."""

    required_scope = None

    class MeOutputSerializer(serializers.Serializer):
        institution = serializers.CharField(source="institution.name")
        uscc = serializers.CharField(source="institution.uscc")
        member_status = serializers.CharField(source="institution.status")
        credential_prefix = serializers.CharField(source="prefix")
        scopes = serializers.ListField(child=serializers.CharField())
        allowed_ips = serializers.ListField(child=serializers.CharField())
        expires_at = serializers.DateTimeField(allow_null=True)

    @extend_schema(responses={200: MeOutputSerializer, **problem_responses()}, tags=["members"], operation_id="me")
    def get(self, request):
        data = self.MeOutputSerializer(request.auth).data
        # Sections from the apps that build on members (the remaining lookup quota), which members
        # must not import: they are named in settings.RISKSHARE_ME_SECTIONS.
        for path in settings.RISKSHARE_ME_SECTIONS:
            data.update(import_string(path)(request.auth))
        return Response(data)
