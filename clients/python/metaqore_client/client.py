"""MetaQore clients: :class:`MetaQore` (sync) and :class:`AsyncMetaQore` (asyncio).

Resources build requests; the client sends them, retrying 429/503 with backoff that honours
``Retry-After``. Resource methods return values on the sync client and awaitables on the async
one, so both share one implementation.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from metaqore_client.errors import error_for
from metaqore_client.models import Declaration, Event, RoutingDecision

RETRY_STATUSES = (429, 503)


@dataclass
class Call:
    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    parse: Callable[[httpx.Response], Any] = field(
        default=lambda r: r.json() if r.content else None
    )
    ok: tuple[int, ...] = ()  # statuses that are answers, not errors (e.g. 409 on declare)


def _clean(params: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in params.items() if value is not None}


def _retry_delay(response: httpx.Response | None, attempt: int) -> float:
    if response is not None:
        header = response.headers.get("Retry-After", "")
        if header.isdigit():
            return min(float(header), 60.0)
    return min(0.5 * 2**attempt, 30.0) * (0.5 + random.random() / 2)  # noqa: S311


class _Base:
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
        self.max_retries = max_retries
        self.headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        if org:
            self.headers["X-MetaQore-Org"] = org
        self.timeout = timeout
        self.projects = Projects(self)
        self.tasks = Tasks(self)
        self.artifacts = Artifacts(self)
        self.governance = Governance(self)
        self.routing = Routing(self)
        self.audit = Audit(self)
        self.events = Events(self)

    def _url(self, path: str) -> str:
        return f"{self.base_url}/api/v1/{path.lstrip('/')}"

    @staticmethod
    def _result(call: Call, response: httpx.Response) -> Any:
        if response.is_success or response.status_code in call.ok:
            return call.parse(response)
        try:
            body = response.json()
        except ValueError:
            body = response.text
        raise error_for(response.status_code, body)


class MetaQore(_Base):
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
        response = None
        for attempt in range(self.max_retries + 1):
            try:
                response = self._http.request(
                    call.method, self._url(call.path), params=call.params, json=call.json
                )
            except httpx.TransportError:
                if attempt == self.max_retries:
                    raise
                time.sleep(_retry_delay(None, attempt))
                continue
            if response.status_code not in RETRY_STATUSES or attempt == self.max_retries:
                break
            time.sleep(_retry_delay(response, attempt))
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

    def _stream_lines(self, path: str, params: dict[str, Any], headers: dict[str, str]):
        with self._http.stream(
            "GET", self._url(path), params=params, headers=headers, timeout=None
        ) as response:
            if not response.is_success:
                response.read()
                self._result(Call("GET", path), response)
            yield from response.iter_lines()


class AsyncMetaQore(_Base):
    """Asynchronous client: the same resources, awaited (``await mq.projects.list()``)."""

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
        response = None
        for attempt in range(self.max_retries + 1):
            try:
                response = await self._http.request(
                    call.method, self._url(call.path), params=call.params, json=call.json
                )
            except httpx.TransportError:
                if attempt == self.max_retries:
                    raise
                await asyncio.sleep(_retry_delay(None, attempt))
                continue
            if response.status_code not in RETRY_STATUSES or attempt == self.max_retries:
                break
            await asyncio.sleep(_retry_delay(response, attempt))
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

    async def _stream_lines(self, path: str, params: dict[str, Any], headers: dict[str, str]):
        async with self._http.stream(
            "GET", self._url(path), params=params, headers=headers, timeout=None
        ) as response:
            if not response.is_success:
                await response.aread()
                self._result(Call("GET", path), response)
            async for line in response.aiter_lines():
                yield line


class _Resource:
    def __init__(self, client: _Base):
        self._client = client

    def _send(self, call: Call) -> Any:
        return self._client._send(call)


class _Crud(_Resource):
    path = ""

    def list(self, **filters: Any) -> Any:
        return self._send(Call("GET", self.path, params=_clean(filters)))

    def get(self, object_id: str) -> Any:
        return self._send(Call("GET", f"{self.path}/{object_id}"))

    def update(self, object_id: str, **fields: Any) -> Any:
        return self._send(Call("PATCH", f"{self.path}/{object_id}", json=fields))

    def delete(self, object_id: str) -> Any:
        return self._send(Call("DELETE", f"{self.path}/{object_id}"))


class Projects(_Crud):
    path = "projects"

    def create(self, name: str, **fields: Any) -> Any:
        return self._send(Call("POST", self.path, json={"name": name, **fields}))


class Tasks(_Crud):
    path = "tasks"

    def create(self, project_id: str, title: str, **fields: Any) -> Any:
        body = {"project_id": project_id, "title": title, **fields}
        return self._send(Call("POST", self.path, json=body))


class Artifacts(_Crud):
    path = "artifacts"

    def declare(
        self, project_id: str, artifact_type: str, data: dict[str, Any], **fields: Any
    ) -> Declaration:
        """Declare an artifact; a governance block (409) comes back as ``outcome == "blocked"``."""
        body = {"project_id": project_id, "artifact_type": artifact_type, "data": data, **fields}
        return self._send(
            Call(
                "POST",
                self.path,
                json=body,
                ok=(409,),
                parse=lambda r: Declaration.from_json(r.json()),
            )
        )

    def update(self, object_id: str, **fields: Any) -> Declaration:
        """Change a draft and re-run the checks; like ``declare``, a block (409) comes back as
        ``outcome == "blocked"``, not as an exception."""
        return self._send(
            Call(
                "PATCH",
                f"{self.path}/{object_id}",
                json=fields,
                ok=(409,),
                parse=lambda r: Declaration.from_json(r.json()),
            )
        )

    def transition(self, artifact_id: str, to: str, reason: str = "") -> Any:
        return self._send(
            Call("POST", f"{self.path}/{artifact_id}/transition", json={"to": to, "reason": reason})
        )


class Governance(_Resource):
    def conflicts(self, **filters: Any) -> Any:
        return self._send(Call("GET", "governance/conflicts", params=_clean(filters)))

    def resolve(self, conflict_id: str, strategy: str, note: str = "") -> Any:
        body = {"strategy": strategy, "note": note}
        return self._send(Call("POST", f"governance/conflicts/{conflict_id}/resolve", json=body))

    def blocking_report(self, project_id: str, limit: int | None = None) -> Any:
        """Counts cover every unresolved conflict; ``conflicts`` the ``limit`` most recent."""
        params: dict[str, Any] = {"project_id": project_id}
        if limit is not None:
            params["limit"] = limit
        return self._send(Call("GET", "governance/blocking-report", params=params))

    def policy(self) -> Any:
        return self._send(Call("GET", "governance/policy"))


class Routing(_Resource):
    def classify(self, **task: Any) -> RoutingDecision:
        parse = lambda r: RoutingDecision.from_json(r.json())  # noqa: E731
        return self._send(Call("POST", "governance/routing/classify", json=task, parse=parse))

    def enforce(self, provider: str, **task: Any) -> RoutingDecision:
        """Ask before sending work to ``provider``; a veto is a decision, not an exception."""
        call = Call(
            "POST",
            "governance/routing/enforce",
            json={"provider": provider, **task},
            ok=(403,),
            parse=lambda r: RoutingDecision.from_json(r.json()),
        )
        return self._send(call)


class Audit(_Resource):
    def events(self, **filters: Any) -> Any:
        return self._send(Call("GET", "governance/compliance/audit", params=_clean(filters)))

    def verify(self) -> Any:
        return self._send(Call("GET", "governance/compliance/verify"))

    def export(self, format: str, path: str | Path, **filters: Any) -> Any:
        """Stream an export (csv, json, jsonl) to ``path``; returns the bytes written."""
        params = {"format": format, **_clean(filters)}
        return self._client._download("governance/compliance/export", params, Path(path))


def _parse_sse(lines: Iterable[str], state: dict[str, Any]) -> Iterator[Event]:
    """Server-sent events → Events; ``state['last_id']`` follows the last seq seen."""
    fields: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "data" in fields:
                event = Event(
                    seq=int(fields.get("id", "0") or 0),
                    event_type=fields.get("event", "message"),
                    data=json.loads(fields["data"]),
                )
                state["last_id"] = event.seq or state.get("last_id")
                yield event
            fields = {}
        elif not line.startswith(":"):  # ':' lines are heartbeats
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            fields[name] = (
                f"{fields[name]}\n{value}" if name == "data" and name in fields else value
            )


class Events(_Resource):
    def _params(self, event_types: Iterable[str] | None, project_id: str | None, since: int | None):
        params = {"project_id": project_id, "since": since}
        if event_types:
            params["event_types"] = ",".join(event_types)
        return _clean(params)

    def stream(
        self,
        event_types: Iterable[str] | None = None,
        project_id: str | None = None,
        since: int | None = None,
        *,
        reconnect: bool = True,
    ) -> Iterator[Event] | AsyncIterator[Event]:
        """Live governance events (SSE). Reconnects after a dropped connection and resumes
        from the last seq received (``Last-Event-ID``), so nothing is lost."""
        event_types = list(event_types or [])
        if isinstance(self._client, AsyncMetaQore):
            return self._astream(event_types, project_id, since, reconnect)
        return self._stream(event_types, project_id, since, reconnect)

    def _stream(self, event_types, project_id, since, reconnect) -> Iterator[Event]:
        state: dict[str, Any] = {"last_id": since}
        attempt = 0
        while True:
            headers = {"Accept": "text/event-stream"}
            if state["last_id"] is not None:
                headers["Last-Event-ID"] = str(state["last_id"])
            try:
                lines = self._client._stream_lines(
                    "events/stream", self._params(event_types, project_id, None), headers
                )
                for event in _parse_sse(lines, state):
                    attempt = 0
                    yield event
            except (httpx.TransportError, httpx.RemoteProtocolError):
                if not reconnect:
                    raise
            if not reconnect:
                return
            time.sleep(_retry_delay(None, attempt))
            attempt += 1

    async def _astream(self, event_types, project_id, since, reconnect) -> AsyncIterator[Event]:
        state: dict[str, Any] = {"last_id": since}
        attempt = 0
        while True:
            headers = {"Accept": "text/event-stream"}
            if state["last_id"] is not None:
                headers["Last-Event-ID"] = str(state["last_id"])
            try:
                pending: list[str] = []
                async for line in self._client._stream_lines(
                    "events/stream", self._params(event_types, project_id, None), headers
                ):
                    pending.append(line)
                    if line == "":
                        for event in _parse_sse(pending, state):
                            attempt = 0
                            yield event
                        pending = []
            except (httpx.TransportError, httpx.RemoteProtocolError):
                if not reconnect:
                    raise
            if not reconnect:
                return
            await asyncio.sleep(_retry_delay(None, attempt))
            attempt += 1
