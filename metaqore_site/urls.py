"""URLs of an organization's host (its own schema)."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("metaqore_site.api.urls")),
]
