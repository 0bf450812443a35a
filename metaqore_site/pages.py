"""The HTML pages outside the dashboard: the bare host's landing page and the 403/404/500
pages (templates/error_base.html), in the dashboard's look, with the request id to quote."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.template import loader
from django.views.generic import TemplateView


def site_context(request: HttpRequest) -> dict[str, Any]:
    """Context processor: the organization of the host (empty on the platform host) and the
    request id, for every template (the error pages use both)."""
    return {
        "organization_name": getattr(getattr(request, "tenant", None), "name", "") or "",
        "request_id": getattr(request, "request_id", "") or "",
    }


def server_error_page(request: HttpRequest) -> HttpResponse:
    """500.html rendered with a plain context (no context processors, which may be what
    failed), still naming the organization and the request id."""
    template = loader.get_template("500.html")
    return HttpResponseServerError(template.render(site_context(request)))


class LandingView(TemplateView):
    """The bare host's start page: what MetaQore is and where to go (never a DEBUG 404)."""

    template_name = "landing.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        port = self.request.get_port()
        context["port_suffix"] = "" if port in ("80", "443") else f":{port}"
        return context
