import datetime as dt

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
