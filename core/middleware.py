import datetime as dt
import logging
import re
import time
import uuid
from contextvars import ContextVar

from django.utils import timezone


class ApiUtcMiddleware:
    """API answers carry times in UTC; the admin shows them in Asia/Shanghai (TIME_ZONE)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/"):
            with timezone.override(dt.UTC):
                return self.get_response(request)
        return self.get_response(request)


class HistoryMiddleware:
    """pghistory's request context (user, URL) for the admin; the API skips it.

    pghistory prefixes every statement of a tracked request with a set_config();
    API writes are attributed by their audit events and batch ids instead.
    """

    def __init__(self, get_response):
        from pghistory.middleware import HistoryMiddleware as PgHistoryMiddleware

        self.get_response = get_response
        self.tracked = PgHistoryMiddleware(get_response)

    def __call__(self, request):
        if request.path.startswith("/api/"):
            return self.get_response(request)
        return self.tracked(request)


# --- request ids ---------------------------------------------------------------

_request_id: ContextVar[str] = ContextVar("riskshare_request_id", default="")
# RFC 9110 visible ASCII (no spaces, no control characters), as log lines and headers can carry it safely.
_VALID_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,128}")


def current_request_id() -> str:
    """The id of the request this thread is serving ('' outside a request)."""
    return _request_id.get()


class RequestIdMiddleware:
    """Every answer carries ``X-Request-ID``: the client's own when valid, else a new one.

    The id is in every log line of the request (``RequestIdLogFilter``) and in every problem
    document (core.api), so a member quoting it lets an operator find the request. First in
    MIDDLEWARE, so that even a redirect or a 400 from Django carries it; it also measures the
    request for the Prometheus metrics (core.metrics).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        supplied = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = supplied if _VALID_REQUEST_ID.fullmatch(supplied) else uuid.uuid4().hex
        request.request_id = request_id
        # Not reset on the way out: Django logs the answer ("Not Found: …") after the middleware
        # returned; request_finished clears it once the answer is sent.
        _request_id.set(request_id)
        started = time.perf_counter()
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        from core.metrics import request_observe

        request_observe(request, response.status_code, time.perf_counter() - started)
        return response


def request_id_clear(**kwargs) -> None:
    _request_id.set("")


class RequestIdLogFilter(logging.Filter):
    """Adds ``request_id`` to every log record ('-' outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get() or "-"
        return True
