"""``GET /api/v1/events/stream``: live governance events as Server-Sent Events.

An async view (it needs an ASGI server: uvicorn, gunicorn with uvicorn workers, ``make run``).
Authentication and permissions are DRF's (API key, JWT or session), run once in the request's
thread; the stream itself holds no database connection while it waits (see
events.listener). Each event is one SSE message::

    id: <seq>
    event: <event type>
    data: <the event as JSON>

Resuming with ``Last-Event-ID: <seq>`` (browsers send it when they reconnect) or ``?since=<seq>``
delivers every matching event after that seq, so a client that reconnects misses nothing.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import cast

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt
from django_tenants.utils import get_public_schema_name
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request
from rest_framework.settings import api_settings

from access.actors import actor_from_request
from access.permissions import actor_can
from events.events import (
    EventFilter,
    EventFilterError,
    head_seq,
    parse_cursor,
    parse_globs,
    parse_project_ids,
    run_db,
)
from events.listener import event_feed
from governance.models import GovernancePolicy
from metaqore_site.metrics import STREAM_CLIENTS
from metaqore_site.middleware import request_attributes

RETRY_MS = 2000  # how long EventSource clients wait before reconnecting


def _split(value: str) -> list[str]:
    return [item for item in value.split(",") if item.strip()]


def _authentication_classes() -> list[type[BaseAuthentication]]:
    # api_settings imports the dotted paths of the settings: classes (the stubs say strings).
    return cast(list[type[BaseAuthentication]], api_settings.DEFAULT_AUTHENTICATION_CLASSES)


def _authorize(request: HttpRequest) -> HttpResponse | None:
    """DRF's authenticators and the ``read`` right; a JSON error response, or None."""
    drf_request = Request(request, authenticators=[auth() for auth in _authentication_classes()])
    try:
        user = drf_request.user
    except exceptions.AuthenticationFailed as exc:
        return _unauthorized(str(exc.detail))
    if user is None or not user.is_authenticated:
        return _unauthorized("Authentication credentials were not provided.")
    if not actor_can(actor_from_request(drf_request), "read"):
        return JsonResponse({"detail": "You may not read this organization's events."}, status=403)
    # The stream reads through the streams' thread pool and holds no connection while it
    # waits: hand the request's connection back now (the response header needs the mode).
    mode = GovernancePolicy.objects.values_list("mode", flat=True).first()
    request_attributes(request).governance_mode = mode
    connection.close()
    return None


def _unauthorized(detail: str) -> HttpResponse:
    response = JsonResponse({"detail": detail}, status=401)
    response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def _parse(request: HttpRequest) -> tuple[EventFilter, int | None]:
    params = request.GET
    event_filter = EventFilter(
        event_types=parse_globs(_split(params.get("event_types", ""))),
        project_ids=parse_project_ids(
            _split(params.get("project_id", "")) + _split(params.get("project_ids", ""))
        ),
    )
    since = params.get("since")
    if since in (None, ""):
        since = request.headers.get("Last-Event-ID")
    return event_filter, parse_cursor(since)


def sse_message(event: dict) -> bytes:
    data = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    return f"id: {event['seq']}\nevent: {event['type']}\ndata: {data}\n\n".encode()


async def _sse(schema: str, cursor: int, event_filter: EventFilter) -> AsyncIterator[bytes]:
    STREAM_CLIENTS.labels("sse").inc()
    try:
        # Headers and a first line at once: the client knows it is connected.
        yield f"retry: {RETRY_MS}\n: connected at seq {cursor}\n\n".encode()
        async for event in event_feed(schema=schema, cursor=cursor, event_filter=event_filter):
            yield b": heartbeat\n\n" if event is None else sse_message(event)
    finally:
        STREAM_CLIENTS.labels("sse").dec()


@csrf_exempt  # GET only; _authorize checks the credentials
async def event_stream(request: HttpRequest) -> HttpResponseBase:
    if request.method != "GET":
        return JsonResponse({"detail": f'Method "{request.method}" not allowed.'}, status=405)
    denied = await sync_to_async(_authorize)(request)
    if denied is not None:
        return denied
    try:
        event_filter, cursor = _parse(request)
    except EventFilterError as exc:
        return JsonResponse({"detail": str(exc)}, status=400)
    if not isinstance(request, ASGIRequest):
        return JsonResponse(
            {"detail": "The event stream needs an ASGI server (uvicorn or gunicorn -k uvicorn)."},
            status=501,
        )
    schema: str = request_attributes(request).tenant.schema_name
    if schema == get_public_schema_name():  # not reachable through the org URLconf
        return JsonResponse({"detail": "Not found."}, status=404)
    if cursor is None:
        cursor = await run_db(head_seq, schema)
    response = StreamingHttpResponse(_sse(schema, cursor, event_filter))
    response["Content-Type"] = "text/event-stream; charset=utf-8"
    response["Cache-Control"] = "no-cache, no-store"
    response["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
    return response
