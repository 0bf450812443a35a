"""``ws://<org host>/api/v1/events/ws``: live governance events over a WebSocket (Channels).

The organization comes from the Host (or ``X-MetaQore-Org`` on a public host), exactly as for
HTTP (tenants.middleware.organization_resolve); the credential is an agent API key, sent as
``X-API-Key``, ``Authorization: Bearer mq_…`` or ``?token=mq_…`` (browsers cannot set headers
on a WebSocket). A bad credential gets ``system.error`` and close code 4401; an unknown
organization 4404.

Client → server (JSON text frames):

- ``{"action": "subscribe", "event_types": ["artifact.*"], "project_ids": ["proj_…"],
  "since": 41}`` → ``{"type": "system.subscribed", "event_types", "project_ids", "since"}``,
  then every matching event after ``since`` (default: from now on) as
  ``{"type": "<event type>", "seq": …, …}``. A new subscribe replaces the previous one.
- ``{"action": "unsubscribe"}`` → ``{"type": "system.unsubscribed"}``; no more events.
- ``{"action": "ping"}`` → ``{"type": "system.pong"}``.
- anything else → ``{"type": "system.error", "error": "<code>", "detail": "…"}``; the socket
  stays open (bad JSON included).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import DatabaseError, close_old_connections
from django.http.request import split_domain_port, validate_host
from django.urls import re_path
from django.utils.datastructures import CaseInsensitiveMapping

from access.actors import Actor
from access.auth_failures import auth_failed_record
from access.authentication import raw_api_key
from access.keys import PREFIX_LENGTH, agent_key_authenticate
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
from metaqore_site.database import tenant_connection
from metaqore_site.metrics import STREAM_CLIENTS
from tenants.middleware import ORG_HEADER, OrganizationNotFound, organization_resolve

logger = logging.getLogger(__name__)

CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_UNAVAILABLE = 1011


@dataclass(frozen=True)
class Connected:
    schema: str
    organization: str
    actor: Actor


class Refused(Exception):
    def __init__(self, code: int, error: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.error = error
        self.detail = detail


class _Headers:
    """Just enough of a request for ``raw_api_key``."""

    def __init__(self, headers: CaseInsensitiveMapping):
        self.headers = headers


def scope_headers(scope: dict) -> CaseInsensitiveMapping:
    return CaseInsensitiveMapping(
        {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
    )


def websocket_authenticate(scope: dict) -> Connected:
    """Resolve the organization and the agent key of a WebSocket handshake (sync, pool thread)."""
    close_old_connections()
    headers = scope_headers(scope)
    host, _port = split_domain_port(headers.get("host", ""))
    if not host or not validate_host(host, settings.ALLOWED_HOSTS):
        raise Refused(CLOSE_NOT_FOUND, "unknown_host", "Unknown host.")
    tenant_connection.set_schema_to_public()
    try:
        organization = organization_resolve(host, headers.get(ORG_HEADER, "").strip())
    except OrganizationNotFound as exc:
        raise Refused(CLOSE_NOT_FOUND, "unknown_organization", str(exc)) from None
    if organization is None:
        raise Refused(
            CLOSE_NOT_FOUND,
            "unknown_organization",
            f"Connect to an organization's host or send {ORG_HEADER}.",
        )
    tenant_connection.set_tenant(organization)
    token = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0]
    raw = raw_api_key(_Headers(headers)) or token.strip() or None
    if raw is None:
        raise Refused(CLOSE_UNAUTHORIZED, "unauthorized", "Send an agent API key.")
    key = agent_key_authenticate(raw)
    if key is None:
        reason = "Invalid, expired or revoked API key."
        client = scope.get("client") or ("", 0)
        with contextlib.suppress(DatabaseError):
            auth_failed_record(
                source_ip=str(client[0] or ""),
                credential="api_key",
                key_prefix="".join(ch for ch in raw[:PREFIX_LENGTH] if ch.isprintable()),
                reason=reason,
                path=scope.get("path", "")[:200],
            )
        raise Refused(CLOSE_UNAUTHORIZED, "unauthorized", reason)
    actor = Actor(kind="agent", name=key.agent.name, is_privileged=key.is_privileged)
    if not actor_can(actor, "read"):
        raise Refused(CLOSE_FORBIDDEN, "forbidden", "This key may not read events.")
    return Connected(organization.schema_name, organization.slug, actor)


class EventsConsumer(AsyncWebsocketConsumer):
    connected: Connected | None = None
    feed: asyncio.Task | None = None

    async def connect(self):
        await self.accept()
        try:
            self.connected = await run_db(websocket_authenticate, self.scope)
        except Refused as exc:
            await self.send_json({"type": "system.error", "error": exc.error, "detail": exc.detail})
            await self.close(code=exc.code)
            return
        except DatabaseError:
            await self.send_json(
                {"type": "system.error", "error": "unavailable", "detail": "Database unavailable."}
            )
            await self.close(code=CLOSE_UNAVAILABLE)
            return
        STREAM_CLIENTS.labels("websocket").inc()

    async def disconnect(self, code):
        await self._stop_feed()
        if self.connected is not None:
            STREAM_CLIENTS.labels("websocket").dec()
            self.connected = None

    async def send_json(self, content: dict) -> None:
        await self.send(text_data=json.dumps(content, ensure_ascii=False, separators=(",", ":")))

    async def _error(self, error: str, detail: str) -> None:
        await self.send_json({"type": "system.error", "error": error, "detail": detail})

    async def receive(self, text_data=None, bytes_data=None):
        if self.connected is None:
            return
        try:
            message = json.loads(text_data if text_data is not None else bytes_data)
        except (ValueError, UnicodeDecodeError):
            await self._error("invalid_json", 'Send JSON objects such as {"action": "ping"}.')
            return
        action = message.get("action") if isinstance(message, dict) else None
        if action == "ping":
            await self.send_json({"type": "system.pong"})
        elif action == "subscribe":
            await self._subscribe(message)
        elif action == "unsubscribe":
            await self._stop_feed()
            await self.send_json({"type": "system.unsubscribed"})
        else:
            await self._error(
                "unknown_action",
                f"Unknown action {str(action)[:50]!r}: use subscribe, unsubscribe or ping.",
            )

    async def _subscribe(self, message: dict) -> None:
        try:
            event_types, project_ids = (
                message.get("event_types", []),
                message.get("project_ids", []),
            )
            if not isinstance(event_types, list) or not isinstance(project_ids, list):
                raise EventFilterError("event_types and project_ids must be lists.")
            event_filter = EventFilter(
                event_types=parse_globs(event_types), project_ids=parse_project_ids(project_ids)
            )
            since = parse_cursor(message.get("since"))
        except EventFilterError as exc:
            await self._error("invalid_subscription", str(exc))
            return
        await self._stop_feed()
        assert self.connected is not None  # receive() serves connected clients only
        schema = self.connected.schema
        if since is None:
            since = await run_db(head_seq, schema)
        subscribed = {"type": "system.subscribed", **event_filter.as_dict(), "since": since}
        await self.send_json(subscribed)
        self.feed = asyncio.create_task(self._forward(schema, since, event_filter))

    async def _forward(self, schema: str, since: int, event_filter: EventFilter) -> None:
        try:
            async for event in event_feed(schema=schema, cursor=since, event_filter=event_filter):
                if event is not None:  # WebSocket pings keep the connection alive
                    await self.send_json(event)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("Live events: a WebSocket feed failed")
            await self._error("unavailable", "The event feed failed; reconnect with since.")
            await self.close(code=CLOSE_UNAVAILABLE)

    async def _stop_feed(self) -> None:
        if self.feed is not None:
            self.feed.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.feed
            self.feed = None


class NotFoundConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        await self.close(code=CLOSE_NOT_FOUND)


websocket_urlpatterns = [
    re_path(r"^api/v1/events/ws/?$", EventsConsumer.as_asgi()),
    re_path(r"", NotFoundConsumer.as_asgi()),
]
