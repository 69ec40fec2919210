"""Shared API plumbing: one error format for the whole API.

Every error a client can see is an RFC 9457 ``application/problem+json``
document: ``type`` (a URN naming the problem), ``title``, ``status``,
``detail``, a machine ``code``, and for validation failures an ``errors`` list
of ``{"field": <JSON pointer>, "code": <stable code>, "message": <text>}``.
No traceback ever reaches a client.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from core import errors as domain
from core.outage import database_unavailable, history_held

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"

# Titles for DRF's own exceptions, keyed by their default codes.
_TITLES = {
    "invalid": gettext_noop("Validation failed"),
    "parse_error": gettext_noop("Malformed request body"),
    "authentication_failed": gettext_noop("Authentication failed"),
    "not_authenticated": gettext_noop("Authentication required"),
    "permission_denied": gettext_noop("Permission denied"),
    "not_found": gettext_noop("Not found"),
    "method_not_allowed": gettext_noop("Method not allowed"),
    "not_acceptable": gettext_noop("Not acceptable"),
    "unsupported_media_type": gettext_noop("Unsupported media type"),
    "throttled": gettext_noop("Too many requests"),
}


def problem(
    *, status_code: int, code: str, title: str, detail: str, errors: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"urn:riskshare:problem:{code}",
        "title": title,
        "status": status_code,
        "detail": detail,
        "code": code,
    }
    if errors is not None:
        body["errors"] = errors
    from core.middleware import current_request_id

    # The X-Request-ID of the answer: what a member quotes to an operator, who finds it in the logs.
    body["request_id"] = current_request_id() or None
    return body


def _pointer_token(key: object) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def flatten_validation_errors(detail: Any, path: str = "") -> Iterator[dict[str, str]]:
    """Walk DRF's nested error structure, yielding one entry per message with a JSON pointer."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            child = path if key in ("non_field_errors", "detail") else f"{path}/{_pointer_token(key)}"
            yield from flatten_validation_errors(value, child)
    elif isinstance(detail, list):
        if all(isinstance(item, exceptions.ErrorDetail) for item in detail):
            for item in detail:
                yield {"field": path, "code": item.code or "invalid", "message": str(item)}
        else:
            for index, item in enumerate(detail):
                yield from flatten_validation_errors(item, f"{path}/{index}")
    elif isinstance(detail, exceptions.ErrorDetail):
        yield {"field": path, "code": detail.code or "invalid", "message": str(detail)}
    else:
        yield {"field": path, "code": "invalid", "message": str(detail)}


# Each domain error class, its status and title: the one place a domain error becomes HTTP. A class
# not listed takes its nearest listed base's (subclasses first: the first match wins).
DOMAIN_PROBLEMS: list[tuple[type[domain.DomainError], int, str]] = [
    (domain.NotFoundError, 404, gettext_noop("Not found")),
    (domain.InvalidTransition, 409, gettext_noop("Illegal status transition")),
    (domain.ConflictError, 409, gettext_noop("Conflict")),
    (domain.InvalidBody, 400, gettext_noop("Validation failed")),
    (domain.MalformedBody, 400, gettext_noop("Malformed request body")),
    (domain.BodyTooLarge, 413, gettext_noop("Payload too large")),
    (domain.UnsupportedMediaType, 415, gettext_noop("Unsupported media type")),
    (domain.IdempotencyKeyReused, 422, gettext_noop("Idempotency key reused")),
    (domain.Unavailable, 503, gettext_noop("Service unavailable")),
    (domain.LimitReached, 429, gettext_noop("Too many requests")),
    (domain.DomainError, 400, gettext_noop("Invalid request")),
]


def domain_problem(exc: domain.DomainError) -> tuple[dict[str, Any], dict[str, str]]:
    """The problem document and headers for a domain error."""
    status_code, title = next((status, title) for cls, status, title in DOMAIN_PROBLEMS if isinstance(exc, cls))
    errors = getattr(exc, "errors", None)
    if errors is None and exc.field is not None:
        errors = [{"field": exc.field, "code": exc.code, "message": exc.message}]
    headers = {"Retry-After": str(exc.retry_after), **exc.headers} if isinstance(exc, domain.LimitReached) else {}
    body = problem(status_code=status_code, code=exc.code, title=_(title), detail=exc.message, errors=errors)
    return body, headers


def _problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(body, status=body["status"], headers=headers, content_type=PROBLEM_CONTENT_TYPE)


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF exception handler: every exception becomes a problem document."""
    set_rollback()
    if isinstance(exc, domain.DomainError):
        return _problem_response(*domain_problem(exc))
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    if isinstance(exc, exceptions.APIException):
        headers: dict[str, str] = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
        if isinstance(exc, exceptions.ValidationError):
            errors = list(flatten_validation_errors(exc.detail))
            body = problem(
                status_code=exc.status_code,
                code="validation_error",
                title=_("Validation failed"),
                detail=_("The request has %(count)d invalid field(s).") % {"count": len(errors)},
                errors=errors,
            )
        else:
            code = exc.get_codes() if isinstance(exc.detail, str) else exc.default_code
            code = code if isinstance(code, str) else exc.default_code
            body = problem(
                status_code=exc.status_code,
                code=code,
                title=_(_TITLES.get(exc.default_code, "Error")),
                detail=str(exc.detail),
            )
        return _problem_response(body, headers)

    if database_unavailable(exc):
        logger.warning("Database unavailable in %s: %s", context.get("view").__class__.__name__, exc)
        body = problem(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            code="database_unavailable",
            title=_("Service unavailable"),
            detail=_("The database cannot be reached; retry after the time given in Retry-After."),
        )
        return _problem_response(body, {"Retry-After": str(settings.RISKSHARE_DATABASE_RETRY_AFTER)})
    if history_held(exc):
        logger.error("History held after a restore: %s refused", context.get("view").__class__.__name__)
        body = problem(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            code="history_held",
            title=_("Service unavailable"),
            detail=_(
                "The platform was restored from a backup and accepts no changes until its operators have "
                "reconciled its history; retry later."
            ),
        )
        return _problem_response(body, {"Retry-After": "300"})
    logger.exception("Unhandled error in %s", context.get("view").__class__.__name__)
    return _problem_response(_server_error_body())


def _server_error_body() -> dict[str, Any]:
    return problem(
        status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
        code="server_error",
        title=_("Internal server error"),
        detail=_("The server could not complete the request; it has been logged."),
    )


def _json_problem(body: dict[str, Any]) -> JsonResponse:
    return JsonResponse(
        body, status=body["status"], content_type=PROBLEM_CONTENT_TYPE, json_dumps_params={"ensure_ascii": False}
    )


# Django-level handlers: unknown routes and errors outside DRF views get the same format.
# The admin is a human interface and keeps Django's HTML pages.


def _is_admin(request: HttpRequest) -> bool:
    return request.path.startswith("/admin/")


def page_not_found(request: HttpRequest, exception: Exception | None = None):
    if _is_admin(request):
        from django.views import defaults

        return defaults.page_not_found(request, exception)
    return _json_problem(
        problem(
            status_code=404,
            code="not_found",
            title=_("Not found"),
            detail=_("No resource exists at this address."),
        )
    )


def bad_request(request: HttpRequest, exception: Exception | None = None):
    return _json_problem(
        problem(status_code=400, code="bad_request", title=_("Bad request"), detail=_("The request is malformed."))
    )


def permission_denied(request: HttpRequest, exception: Exception | None = None):
    if _is_admin(request):
        from django.views import defaults

        return defaults.permission_denied(request, exception)
    return _json_problem(
        problem(
            status_code=403,
            code="permission_denied",
            title=_("Permission denied"),
            detail=_("You do not have permission to perform this action."),
        )
    )


def server_error(request: HttpRequest):
    return _json_problem(_server_error_body())
