"""How members' side of the API documents itself: the scope each operation needs, the codes of authentication.

``ScopedAutoSchema`` is REST_FRAMEWORK's schema class; the codes join the API's one registry (core.openapi).
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.openapi import AutoSchema
from rest_framework import exceptions

from core.openapi import authenticated, problem_code, register_problems


class ScopedAutoSchema(AutoSchema):
    """Each operation says which scope its key needs (``x-required-scope``, and in its description)."""

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        scope = getattr(self.view, "required_scope", None)
        if operation is not None and scope and operation.get("security"):
            needs = _("Scope: `%(scope)s`.") % {"scope": scope}
            operation["description"] = f"{operation.get('description', '')}\n\n{needs}".strip()
            operation["x-required-scope"] = scope
        return operation


def _scoped(operation: dict) -> bool:
    return "x-required-scope" in operation


register_problems(
    problem_code(
        "malformed_authorization",
        exceptions.AuthenticationFailed,
        _("The Authorization header is not `Bearer <key>`."),
        authenticated,
    ),
    problem_code(
        "invalid_credential",
        exceptions.AuthenticationFailed,
        _("The API key is unknown, revoked or expired."),
        authenticated,
    ),
    problem_code(
        "member_not_active",
        exceptions.PermissionDenied,
        _("The key's institution is not an active member (applicant, under review, suspended or withdrawn)."),
        authenticated,
    ),
    problem_code(
        "address_not_allowed",
        exceptions.PermissionDenied,
        _("The key has an IP allow-list and the request comes from outside it."),
        authenticated,
    ),
    problem_code(
        "missing_scope", exceptions.PermissionDenied, _("The key lacks the scope this operation needs."), _scoped
    ),
)
