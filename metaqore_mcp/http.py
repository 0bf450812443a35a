"""``/mcp``: the MCP server over Streamable HTTP, mounted in the ASGI application.

Stateless and JSON responses: every MCP request stands alone (no session held in a worker's
memory), so any worker behind a load balancer answers it, like the REST API. The organization
comes from the host or ``X-MetaQore-Org`` and the credential is the agent's API key
(``Authorization: Bearer mq_…`` or ``X-API-Key``), checked before the MCP layer sees the
request: no key, a bad key or another organization's key is HTTP 401.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from mcp.server.transport_security import TransportSecuritySettings

from events.events import run_db
from events.websocket import (
    CLOSE_FORBIDDEN,
    CLOSE_UNAUTHORIZED,
    Refused,
    websocket_authenticate,
)
from metaqore_mcp.api import InProcessApi, request_headers
from metaqore_mcp.tools import build_server

logger = logging.getLogger(__name__)

STATUS_FOR_REFUSAL = {CLOSE_UNAUTHORIZED: 401, CLOSE_FORBIDDEN: 403}


async def _json_response(send: Any, status: int, body: dict, headers: list | None = None) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class McpHttpApp:
    """ASGI app for ``/mcp``: authenticate, then hand the request to the SDK's session manager
    (started on first use, on the worker's event loop, and kept for the worker's life)."""

    def __init__(self, api_app: Any):
        self.server = build_server(InProcessApi(api_app), version=settings.VERSION)
        # Host checks are Django's (ALLOWED_HOSTS and the organization's domains), and a
        # request without the org's API key gets nothing, so the SDK's DNS-rebinding
        # protection for local servers is off.
        self.server.streamable_http_app(
            stateless_http=True,
            json_response=True,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        self.manager = self.server.session_manager
        self._started: asyncio.Future[None] | None = None

    async def _ensure_running(self) -> None:
        if self._started is None:
            loop = asyncio.get_running_loop()
            self._started = loop.create_future()
            started = self._started

            async def run() -> None:
                async with self.manager.run():
                    started.set_result(None)
                    await asyncio.Event().wait()  # for the worker's life

            self._runner = loop.create_task(run(), name="mcp-session-manager")
        await self._started

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        try:
            await run_db(websocket_authenticate, scope)
        except Refused as exc:
            status = STATUS_FOR_REFUSAL.get(exc.code, 404)
            extra = [(b"www-authenticate", b"Bearer")] if status == 401 else []
            await _json_response(send, status, {"detail": exc.detail, "code": exc.error}, extra)
            return
        except DatabaseError:
            logger.exception("MCP request refused: the database is unavailable")
            await _json_response(send, 503, {"detail": "Database unavailable."})
            return
        await self._ensure_running()
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope["headers"]
        }
        token = request_headers.set(headers)
        try:
            await self.manager.handle_request(scope, receive, send)
        finally:
            request_headers.reset(token)
