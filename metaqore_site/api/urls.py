"""The ``/api/v1`` surface of an organization, assembled from each app's ``api/urls.py``."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from metaqore_site.api.health import HealthView

docs_urlpatterns = [
    re_path(r"^api/v1/schema/?$", SpectacularAPIView.as_view(), name="schema"),
    re_path(
        r"^api/v1/docs/?$", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"
    ),
]

api_urlpatterns = [
    re_path(r"^health/?$", HealthView.as_view(), name="health"),
    path("", include("access.api.urls")),  # auth/token/…, governance/agent-keys/…
    path("", include("projects.api.urls")),
    path("", include("artifacts.api.urls")),
    path("governance/compliance/", include("compliance.api.urls")),
    path("governance/", include("governance.api.urls")),
    path("internal/", include("governance.api.internal_urls")),
    path("", include("hmcp.api.urls")),  # specialists/… (HMCP)
    path("", include("events.api.urls")),  # events/stream, webhooks
]

urlpatterns = [path("api/v1/", include(api_urlpatterns)), *docs_urlpatterns]
