"""The REST API, called in process with the MCP request's credential and organization."""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpx

# Request headers an MCP request passes on to the API call it makes.
FORWARDED_HEADERS = (
    "host",
    "authorization",
    "x-api-key",
    "x-metaqore-org",
    "x-metaqore-privileged",
    "x-request-id",
    "x-forwarded-for",
)


# The headers of the MCP request being served (set by metaqore_mcp.http once the request is
# authenticated); the SDK runs tools in tasks started from that request, which inherit it.
request_headers: ContextVar[Mapping[str, str] | None] = ContextVar("request_headers", default=None)


@dataclass(frozen=True)
class ApiAnswer:
    status: int
    body: Any
    headers: Mapping[str, str]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class InProcessApi:
    """Sends requests to the Django application (an ASGI callable) without a network hop."""

    def __init__(self, app: Any):
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://metaqore.internal"
        )

    async def request(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str] | None,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> ApiAnswer:
        incoming = {name.lower(): value for name, value in (headers or {}).items()}
        forwarded = {name: incoming[name] for name in FORWARDED_HEADERS if name in incoming}
        forwarded["accept"] = "application/json"
        query = {key: value for key, value in (params or {}).items() if value is not None}
        response = await self._client.request(
            method,
            f"/api/v1/{path.lstrip('/')}",
            params=query,
            json=body if method != "GET" else None,
            headers=forwarded,
        )
        try:
            parsed = response.json() if response.content else {}
        except json.JSONDecodeError:
            parsed = {"detail": response.text[:2000]}
        return ApiAnswer(response.status_code, parsed, response.headers)
