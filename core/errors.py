"""The one family of domain errors that services raise.

Each names what went wrong (its class) and carries a stable machine ``code``, a message and, where a
field of the request caused it, that field as a JSON Pointer. Nothing here knows HTTP: the API's
exception handler (core/api.py) maps each class to a status and title for RFC 9457 problem
documents, and the management commands print the message and exit non-zero.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """The request is refused: a value or a rule of the domain does not allow it."""

    code = "invalid_request"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field


class NotFoundError(DomainError):
    """The object does not exist, or belongs to another member (the same answer for both)."""

    code = "not_found"


class ConflictError(DomainError):
    """The request conflicts with the object's current state."""

    code = "conflict"


class InvalidTransition(ConflictError):
    code = "illegal_transition"


class InvalidBody(DomainError):
    """A request body that breaks its contract; ``errors``: every problem, ``{"field", "code", "message"}``."""

    code = "validation_error"

    def __init__(self, message: str, *, errors: list[dict[str, Any]]):
        super().__init__(message)
        self.errors = errors


class MalformedBody(DomainError):
    """The body is not JSON at all (or not UTF-8, or nested beyond any contract)."""

    code = "parse_error"


class BodyTooLarge(DomainError):
    """More bytes, records or identifiers than one request may carry."""

    code = "payload_too_large"


class UnsupportedMediaType(DomainError):
    code = "unsupported_media_type"


class IdempotencyKeyReused(DomainError):
    """The same Idempotency-Key came with another request body."""

    code = "idempotency_key_reused"


class LimitReached(DomainError):
    """Over a rate or volume limit; ``retry_after``: seconds until it lifts; ``headers``: more to answer with."""

    code = "throttled"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None):
        super().__init__(message, code=code)
        self.retry_after = retry_after
        self.headers: dict[str, str] = {}


class Unavailable(LimitReached):
    """A service the request needs is down (the token evaluator): retry after ``retry_after`` seconds."""

    code = "unavailable"
