"""Member-facing API of the members app."""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.openapi import response_example


class CredentialMeApi(APIView):
    required_scope = None

    class MeOutputSerializer(serializers.Serializer):
        institution = serializers.CharField(source="institution.name", help_text=_("The member institution's name."))
        uscc = serializers.CharField(source="institution.uscc", help_text=_("Its unified social credit code."))
        member_status = serializers.CharField(
            source="institution.status", help_text=_("Its membership status; only active members may use the API.")
        )
        credential_prefix = serializers.CharField(
            source="prefix", help_text=_("The first characters of the key, to tell your keys apart.")
        )
        scopes = serializers.ListField(child=serializers.CharField(), help_text=_("What the key may do."))
        allowed_ips = serializers.ListField(
            child=serializers.CharField(), help_text=_("The networks the key may be used from; empty: any.")
        )
        expires_at = serializers.DateTimeField(allow_null=True, help_text=_("When the key expires; null: never."))

    @extend_schema(
        operation_id="me",
        tags=["members"],
        summary=_("Who am I"),
        description=_(
            "The member and credential behind the presented API key, and what remains of its lookup quota "
            "(`lookup_quota`)."
        ),
        responses={200: MeOutputSerializer},
        examples=[
            response_example(
                {
                    "institution": "Example Consumer Finance Co., Ltd.",
                    "uscc": "91310000MA1FL4XQ3D",
                    "member_status": "active",
                    "credential_prefix": "rsk_0123456789ab",
                    "scopes": ["records:write", "lookups"],
                    "allowed_ips": ["203.0.113.0/24"],
                    "expires_at": None,
                    "lookup_quota": {
                        "requests_per_minute": {"limit": 600, "remaining": 598, "resets_in_seconds": 41},
                        "identifiers_per_day": {"limit": 2000000, "remaining": 1999120, "resets_in_seconds": 51123},
                    },
                }
            )
        ],
    )
    def get(self, request):
        data = self.MeOutputSerializer(request.auth).data
        # Sections from the apps that build on members (the remaining lookup quota), which members
        # must not import: they are named in settings.RISKSHARE_ME_SECTIONS.
        for path in settings.RISKSHARE_ME_SECTIONS:
            data.update(import_string(path)(request.auth))
        return Response(data)
