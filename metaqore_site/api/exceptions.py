"""One place that turns domain and framework errors into the API's JSON error shapes."""

from __future__ import annotations

import sys

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler

from metaqore_site.errors import GovernanceError
from metaqore_site.outage import (
    database_unavailable,
    database_unavailable_response,
    embedded_database_revive,
    outage_payload,
    retry_after_seconds,
)
from metaqore_site.pages import server_error_page


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if database_unavailable(exc):
        embedded_database_revive()
        request_id = getattr(context.get("request"), "request_id", None)
        body = {**outage_payload(), **({"request_id": request_id} if request_id else {})}
        return Response(body, status=503, headers={"Retry-After": str(retry_after_seconds())})
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
    """``handler500``: API clients get JSON (with the request id to quote), pages HTML; a lost
    database connection (in a middleware, say) is a 503 with ``Retry-After`` instead."""
    if database_unavailable(sys.exc_info()[1]):
        return database_unavailable_response(request)
    if request.path.startswith(API_PREFIX):
        return JsonResponse(
            {
                "detail": "Internal server error.",
                "code": "server_error",
                "request_id": getattr(request, "request_id", None),
            },
            status=500,
        )
    return server_error_page(request)
