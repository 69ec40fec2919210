from django.contrib import admin
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt

from core import api, health, metrics

urlpatterns = [
    path("healthz", health.HealthzApi.as_view(), name="healthz"),
    path("readyz", health.ReadyzApi.as_view(), name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("api/v1/", include("members.urls")),
    path("api/v1/", include("sharing.urls")),
    path("admin/", admin.site.urls),
    # Everything else is a problem document, in DEBUG too (Django would show its HTML page);
    # exempt from CSRF, or a POST to a malformed API path would get Django's HTML 403 instead.
    re_path(r"^(?!admin(/|$)|static/).*$", csrf_exempt(api.page_not_found)),
]

handler400 = "core.api.bad_request"
handler403 = "core.api.permission_denied"
handler404 = "core.api.page_not_found"
handler500 = "core.api.server_error"
