from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from members import apis

urlpatterns = [
    path("me", apis.CredentialMeApi.as_view(), name="me"),
    path(
        "schema/",
        SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]),
        name="schema",
    ),
    path(
        "docs/",
        SpectacularSwaggerView.as_view(url_name="schema", authentication_classes=[], permission_classes=[]),
        name="docs",
    ),
]
