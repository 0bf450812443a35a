"""URLs of the bare host (public schema): platform admin, health and API docs."""

from django.contrib import admin
from django.urls import path, re_path

from metaqore_site.api.health import HealthView
from metaqore_site.api.urls import docs_urlpatterns
from metaqore_site.metrics import metrics_view
from metaqore_site.pages import LandingView

urlpatterns = [
    path("", LandingView.as_view(), name="landing"),
    path("admin/", admin.site.urls),
    re_path(r"^api/v1/health/?$", HealthView.as_view(), name="health"),
    re_path(r"^metrics/?$", metrics_view, name="metrics"),
    *docs_urlpatterns,
]

handler404 = "metaqore_site.api.exceptions.page_not_found"
handler500 = "metaqore_site.api.exceptions.server_error"
