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
