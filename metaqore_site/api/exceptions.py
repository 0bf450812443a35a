"""One place that turns domain and framework errors into the API's JSON error shapes."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler


class GovernanceError(Exception):
    """Base class for errors raised by services; each maps to one HTTP status."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "governance_error"

    def __init__(self, detail: str, *, code: str | None = None, extra: dict | None = None):
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.default_code
        self.extra = extra or {}

    def as_payload(self) -> dict[str, Any]:
        return {"detail": self.detail, "code": self.code, **self.extra}


class GovernanceBlocked(GovernanceError):
    status_code = status.HTTP_409_CONFLICT
    default_code = "governance_blocked"


class GovernanceForbidden(GovernanceError):
    status_code = status.HTTP_403_FORBIDDEN
    default_code = "forbidden"


class GovernanceRefused(GovernanceError):
    """A request understood but refused by governance rules (e.g. a specialist proposal that
    breaks the hierarchy policy): 422 with every reason."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "refused"


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, GovernanceError):
        return Response(exc.as_payload(), status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, ProtectedError):
        return Response(
            {
                "detail": "Still referenced by governed records (e.g. artifacts); "
                "archive those instead of deleting.",
                "code": "protected",
            },
            status=status.HTTP_409_CONFLICT,
        )
    return drf_exception_handler(exc, context)


API_PREFIX = "/api/"


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``handler404``: a URL no route matches (``/api/v1/providers/bad name``) is JSON under
    ``/api/``, like every other API error; pages elsewhere keep Django's HTML."""
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: API clients get JSON (with the request id to quote), pages HTML."""
    if request.path.startswith(API_PREFIX):
        return JsonResponse(
            {
                "detail": "Internal server error.",
                "code": "server_error",
                "request_id": getattr(request, "request_id", None),
            },
            status=500,
        )
    return defaults.server_error(request)
