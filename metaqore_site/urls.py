"""URLs of an organization's host (its own schema)."""

from django.contrib import admin
from django.http import HttpRequest, HttpResponsePermanentRedirect
from django.urls import include, path, re_path
from django.views.generic import RedirectView

# Admin pages of models that moved to their own apps (access, artifacts, hmcp, events): old
# bookmarks land on the new page.
MOVED_ADMIN_PAGES = {
    "governance/agent": "access/agent",
    "governance/agentkey": "access/agentkey",
    "governance/conflict": "artifacts/conflict",
    "governance/skill": "hmcp/skill",
    "governance/hierarchypolicy": "hmcp/hierarchypolicy",
    "governance/specialist": "hmcp/specialist",
    "governance/trainingjob": "hmcp/trainingjob",
    "compliance/webhook": "events/webhook",
    "compliance/webhookdelivery": "events/webhookdelivery",
}


def moved_admin_page(request: HttpRequest, page: str, rest: str) -> HttpResponsePermanentRedirect:
    query = f"?{request.META['QUERY_STRING']}" if request.META.get("QUERY_STRING") else ""
    return HttpResponsePermanentRedirect(f"/admin/{MOVED_ADMIN_PAGES[page]}/{rest}{query}")


urlpatterns = [
    re_path(
        rf"^admin/(?P<page>{'|'.join(MOVED_ADMIN_PAGES)})/(?P<rest>.*)$",
        moved_admin_page,
        name="moved-admin-page",
    ),
    path("", RedirectView.as_view(pattern_name="dashboard:overview", permanent=False)),
    path("dashboard/", include("dashboard.urls")),
    path("admin/", admin.site.urls),
    path("", include("metaqore_site.api.urls")),
]

handler404 = "metaqore_site.api.exceptions.page_not_found"
handler500 = "metaqore_site.api.exceptions.server_error"
