"""URLs of an organization's host (its own schema)."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="dashboard:overview", permanent=False)),
    path("dashboard/", include("dashboard.urls")),
    path("admin/", admin.site.urls),
    path("", include("metaqore_site.api.urls")),
]

handler404 = "metaqore_site.api.exceptions.page_not_found"
handler500 = "metaqore_site.api.exceptions.server_error"
