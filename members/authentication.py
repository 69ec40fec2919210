"""API authentication: ``Authorization: Bearer <key>`` of a member's credential.

Outcomes, in order: no or malformed header, unknown, revoked or expired key →
401; a valid key of a member that is not active, a client address outside the
key's allow-list, or a missing scope → 403.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission

from members.models import Institution
from members.selectors import credential_by_key
from members.services import credential_touch


class CredentialAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                _("Malformed Authorization header; expected 'Bearer <key>'."), code="malformed_authorization"
            )
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            key = ""
        credential = credential_by_key(key=key)
        now = timezone.now()
        if credential is None or credential.is_revoked or credential.is_expired(now):
            # One answer for all three, so a caller learns nothing about which keys exist.
            raise exceptions.AuthenticationFailed(
                _("The API key is unknown, revoked or expired."), code="invalid_credential"
            )
        credential_touch(credential=credential, now=now, interval_seconds=settings.RISKSHARE_CREDENTIAL_TOUCH_INTERVAL)
        return credential.institution, credential

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="riskshare"'


def client_address(request) -> str:
    # REMOTE_ADDR is set by the server in front of us; a proxy that terminates TLS
    # must set it to the real client (e.g. nginx real_ip), never a spoofable header.
    return request.META.get("REMOTE_ADDR", "")


def address_allowed(address: str, networks: list[str]) -> bool:
    if not networks:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(network) for network in networks)


class ActiveMemberCredential(BasePermission):
    """The credential's member is active, the caller is inside the allow-list, the scope is granted.

    A view names the scope it needs in ``required_scope`` (None: any valid key).
    """

    def has_permission(self, request, view) -> bool:
        credential = request.auth
        if credential is None:
            return False  # DRF answers 401 Not Authenticated
        if credential.institution.status != Institution.Status.ACTIVE:
            raise exceptions.PermissionDenied(
                _("Your institution is not an active member; the API is closed to it."), code="member_not_active"
            )
        if not address_allowed(client_address(request), credential.allowed_ips):
            raise exceptions.PermissionDenied(
                _("This API key may not be used from your address."), code="address_not_allowed"
            )
        required = getattr(view, "required_scope", None)
        if required and required not in credential.scopes:
            raise exceptions.PermissionDenied(
                _("This API key lacks the scope '%(scope)s'.") % {"scope": required}, code="missing_scope"
            )
        return True


class CredentialAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "members.authentication.CredentialAuthentication"
    name = "memberApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": _("A member credential's API key, sent as `Authorization: Bearer <key>`."),
        }
