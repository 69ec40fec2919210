"""Per-credential request limits of the endpoints other than lookups (lookups count in their own quota).

Applied to every API view (REST_FRAMEWORK's default throttle), after authentication; a route that is
not named below (lookups, health probes, the public key) is not limited here.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.urls import Resolver404, resolve
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.exceptions import Throttled
from rest_framework.throttling import BaseThrottle

from members.models import Credential
from sharing.lookups.quotas import rate_limit_consume

# URL name → the limit it counts in (settings.RISKSHARE_RATE_LIMITS).
SCOPES = {
    "batch-submit": "batches",
    "record-resolve": "batches",
    "record-retract": "batches",
    "batch-detail": "listings",
    "record-list": "listings",
    "record-detail": "listings",
    "lookup-detail": "listings",
    "report-list": "listings",
    "report-download": "listings",
    "alert-list": "alerts",
    "alert-acknowledge": "alerts",
    "dispute-list": "disputes",
    "dispute-detail": "disputes",
}


class CredentialRateThrottle(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        match = request.resolver_match
        scope = SCOPES.get(match.url_name) if match else None
        if scope is None or not isinstance(request.auth, Credential):
            return True
        refusal = rate_limit_consume(credential_id=request.auth.pk, scope=scope, now=timezone.now())
        if refusal is None:
            return True
        raise Throttled(
            wait=refusal.wait,
            detail=_("Request limit reached: %(limit)d %(scope)s requests a minute.")
            % {"limit": refusal.limit, "scope": refusal.scope},
        )


def rate_limits_documented(result, generator, request, public):
    """drf-spectacular hook: every limited operation says its limit and answers ``throttled`` (429, Retry-After)."""
    for path, operations in result.get("paths", {}).items():
        try:
            name = resolve(re.sub(r"\{[^}]+\}", "1", path)).url_name
        except Resolver404:
            continue
        if name not in SCOPES:
            continue
        limit = _("Rate limit: %(limit)d requests a minute per API key, counted with the other %(scope)s operations.")
        text = limit % {"limit": settings.RISKSHARE_RATE_LIMITS[SCOPES[name]], "scope": SCOPES[name]}
        for operation in operations.values():
            operation["description"] = f"{operation.get('description', '')}\n\n{text}".strip()
            operation.setdefault("x-problems", []).append("throttled")
    return result
