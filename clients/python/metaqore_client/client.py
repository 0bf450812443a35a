"""MetaQore clients: :class:`MetaQore` (sync) and :class:`AsyncMetaQore` (asyncio).

Resources build requests; the client sends them, retrying 429/503 (and dropped connections)
with bounded backoff that honours ``Retry-After``. Every POST carries an ``Idempotency-Key``
that stays the same across its retries: the server answers a repeat with the first response,
so a retry never acts twice. Resource methods return values on the sync client and awaitables
on the async one, so both share one implementation.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx

from metaqore_client.errors import error_for
from metaqore_client.events import Events
from metaqore_client.resources import (
    Artifacts,
    Audit,
    Call,
    Governance,
    Projects,
    Routing,
    Specialists,
    Tasks,
    Webhooks,
    clean,
)
from metaqore_client.retry import RETRY_STATUSES, retry_delay

__version__ = "0.2.0"  # keep in step with clients/python/pyproject.toml
USER_AGENT = f"metaqore-client/{__version__}"


class BaseClient:
    is_async = False

    def __init__(
        self,
        base_url: str,
        api_key: str,
        org: str | None = None,
        *,
        timeout: float = 30.0,
        max_retries: int = 4,
    ):
        self.base_url = base_url.rstrip("/")
        self.org = org
        self.max_retries = max_retries
        self.headers = {
            "Authorization": f"Bearer {api_key}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        if org:
            self.headers["X-MetaQore-Org"] = org
        self.timeout = timeout
        self.projects = Projects(self)
        self.tasks = Tasks(self)
        self.artifacts = Artifacts(self)
        self.governance = Governance(self)
        self.routing = Routing(self)
        self.audit = Audit(self)
        self.specialists = Specialists(self)
        self.webhooks = Webhooks(self)
        self.events = Events(self)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        ok: tuple[int, ...] = (),
    ) -> Any:
        """Any other endpoint under ``/api/v1/`` (``mq.request("GET", "governance/waivers")``),
        with the same authentication, retries, idempotency and typed errors; ``ok`` lists
        error statuses to return as answers instead of raising."""
        call = Call(method.upper(), path, params=clean(params or {}), json=json, ok=ok)
        return self._send(call)

    def health(self) -> Any:
        """``GET /api/v1/health`` (no auth): status, database, version, organization; a 503
        (database down) is answered, not raised."""
        return self._send(Call("GET", "health", ok=(503,)))

    def _url(self, path: str) -> str:
        return f"{self.base_url}/api/v1/{path.lstrip('/')}"

    @staticmethod
    def _request_headers(call: Call) -> dict[str, str]:
        if call.method != "POST":
            return dict(call.headers)
        key = call.idempotency_key or f"mqc-{uuid.uuid4().hex}"
        return {**call.headers, "Idempotency-Key": key}

    @staticmethod
    def _result(call: Call, response: httpx.Response) -> Any:
        if response.is_success or response.status_code in call.ok:
            return call.parse(response)
        try:
            body = response.json()
        except ValueError:
            body = response.text
        raise error_for(response.status_code, body)

    def _send(self, call: Call) -> Any:  # pragma: no cover - both subclasses override it
        raise NotImplementedError

    def _download(self, path: str, params: dict[str, Any], target: Path) -> Any:
        raise NotImplementedError  # pragma: no cover

    def _stream_lines(self, path: str, params: dict[str, Any], headers: dict[str, str]) -> Any:
        raise NotImplementedError  # pragma: no cover


class MetaQore(BaseClient):
    """Synchronous client.

    >>> mq = MetaQore("http://acme.localhost:8001", api_key="mq_…")
    >>> result = mq.artifacts.declare(project_id, "code", {"src": "..."})
    """

    def __init__(self, *args: Any, transport: httpx.BaseTransport | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._http = httpx.Client(headers=self.headers, timeout=self.timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> MetaQore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, call: Call) -> Any:
        headers = self._request_headers(call)
        response = None
        for attempt in range(self.max_retries + 1):
            try:
                response = self._http.request(
                    call.method,
                    self._url(call.path),
                    params=call.params,
                    json=call.json,
                    headers=headers,
                )
            except httpx.TransportError:
                if attempt == self.max_retries:
                    raise
                time.sleep(retry_delay(None, attempt))
                continue
            if response.status_code not in RETRY_STATUSES or attempt == self.max_retries:
                break
            time.sleep(retry_delay(response, attempt))
        assert response is not None
        return self._result(call, response)

    def _download(self, path: str, params: dict[str, Any], target: Path) -> int:
        with self._http.stream("GET", self._url(path), params=params) as response:
            if not response.is_success:
                response.read()
                self._result(Call("GET", path), response)
            written = 0
            with target.open("wb") as out:
                for chunk in response.iter_bytes():
                    written += out.write(chunk)
        return written

    def _stream_lines(
        self, path: str, params: dict[str, Any], headers: dict[str, str]
    ) -> Iterator[str]:
        with self._http.stream(
            "GET", self._url(path), params=params, headers=headers, timeout=None
        ) as response:
            if not response.is_success:
                response.read()
                self._result(Call("GET", path), response)
            yield from response.iter_lines()


class AsyncMetaQore(BaseClient):
    """Asynchronous client: the same resources, awaited (``await mq.projects.list()``)."""

    is_async = True

    def __init__(
        self, *args: Any, transport: httpx.AsyncBaseTransport | None = None, **kwargs: Any
    ):
        super().__init__(*args, **kwargs)
        self._http = httpx.AsyncClient(
            headers=self.headers, timeout=self.timeout, transport=transport
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncMetaQore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _send(self, call: Call) -> Any:
        headers = self._request_headers(call)
        response = None
        for attempt in range(self.max_retries + 1):
            try:
                response = await self._http.request(
                    call.method,
                    self._url(call.path),
                    params=call.params,
                    json=call.json,
                    headers=headers,
                )
            except httpx.TransportError:
                if attempt == self.max_retries:
                    raise
                await asyncio.sleep(retry_delay(None, attempt))
                continue
            if response.status_code not in RETRY_STATUSES or attempt == self.max_retries:
                break
            await asyncio.sleep(retry_delay(response, attempt))
        assert response is not None
        return self._result(call, response)

    async def _download(self, path: str, params: dict[str, Any], target: Path) -> int:
        async with self._http.stream("GET", self._url(path), params=params) as response:
            if not response.is_success:
                await response.aread()
                self._result(Call("GET", path), response)
            written = 0
            with target.open("wb") as out:
                async for chunk in response.aiter_bytes():
                    written += out.write(chunk)
        return written

    async def _stream_lines(
        self, path: str, params: dict[str, Any], headers: dict[str, str]
    ) -> AsyncIterator[str]:
        async with self._http.stream(
            "GET", self._url(path), params=params, headers=headers, timeout=None
        ) as response:
            if not response.is_success:
                await response.aread()
                self._result(Call("GET", path), response)
            async for line in response.aiter_lines():
                yield line
