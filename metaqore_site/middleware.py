"""Cross-cutting request plumbing: request ids, body size limits, security headers."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Protocol, cast

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse


class RequestAttributes(Protocol):
    """Attributes MetaQore's middleware and views put on a Django request (``HttpRequest``
    takes any attribute; its type stubs know only Django's own). Read the optional ones with
    ``getattr(request, name, None)``: each is there only once something has set it."""

    request_id: str  # RequestIdMiddleware
    tenant: Any  # the organization, or django-tenants' FakeTenant for the public schema
    governance_mode: str | None  # the policy's mode, for the governance response header
    metaqore_agent_key: Any  # the API key RateLimitMiddleware looked up (access.AgentKey)


def request_attributes(request: HttpRequest) -> RequestAttributes:
    """The same request, typed with the attributes MetaQore sets on it."""
    return cast(RequestAttributes, request)


# The id of the request being served, for audit events and logs written deep in services.
current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")  # fullmatch: `$` would allow "\n"


class RequestIdMiddleware:
    """Echo a well-formed client ``X-Request-ID`` or mint one; set it on every response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        supplied = request.headers.get("X-Request-ID", "")
        request_id = supplied if _CLIENT_REQUEST_ID.fullmatch(supplied) else uuid.uuid4().hex
        request_attributes(request).request_id = request_id
        token = current_request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            current_request_id.reset(token)
        response["X-Request-ID"] = request_id
        return response


class BodySizeLimitMiddleware:
    """Refuse oversized bodies with 413 before anything reads them.

    DRF parses JSON from the raw stream, which skips Django's DATA_UPLOAD_MAX_MEMORY_SIZE check,
    so the limit is enforced here for every content type.

    A body sent with ``Transfer-Encoding`` (chunked) has no Content-Length: Django's WSGI request
    would read it as empty, so a PATCH would "succeed" without its changes. Such requests get
    411 Length Required instead: send the body with a Content-Length.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if request.META.get("HTTP_TRANSFER_ENCODING", "").strip().lower() not in ("", "identity"):
            return JsonResponse(
                {
                    "detail": "Length required: send the request body with a Content-Length "
                    "header (chunked transfer encoding is not accepted)."
                },
                status=411,
            )
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse({"detail": "Invalid Content-Length header."}, status=400)
        if limit is not None and length > limit:
            return JsonResponse(
                {"detail": f"Request body too large: {length} bytes, limit {limit} bytes."},
                status=413,
            )
        return self.get_response(request)


class ContentSecurityPolicyMiddleware:
    """``Content-Security-Policy`` on the pages humans use (dashboard, admin): scripts and
    everything else from this server only, no framing, no plugins. Inline ``style`` attributes
    are allowed (the templates use a few); inline scripts are not."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = settings.METAQORE_CONTENT_SECURITY_POLICY
        if (
            policy
            and request.path.startswith(settings.METAQORE_CSP_PATH_PREFIXES)
            and "Content-Security-Policy" not in response
        ):
            response["Content-Security-Policy"] = policy
        return response
