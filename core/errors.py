"""The one family of domain errors that services raise.

Each carries a stable machine ``code`` and an HTTP status; the API's exception
handler (core/api.py) turns them into RFC 9457 problem documents, and the
management commands print their message and exit non-zero.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    status = 400
    code = "invalid_request"
    title = _("Invalid request")

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field


class NotFoundError(DomainError):
    status = 404
    code = "not_found"
    title = _("Not found")


class ConflictError(DomainError):
    status = 409
    code = "conflict"
    title = _("Conflict")


class InvalidTransition(ConflictError):
    code = "illegal_transition"
    title = _("Illegal status transition")


class MalformedBody(DomainError):
    code = "parse_error"
    title = _("Malformed request body")


class PayloadTooLarge(DomainError):
    status = 413
    code = "payload_too_large"
    title = _("Payload too large")


class UnsupportedMediaType(DomainError):
    status = 415
    code = "unsupported_media_type"
    title = _("Unsupported media type")
