"""The live event stream (server-sent events) as an iterator that resumes after a drop."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

import httpx

from metaqore_client.models import Event
from metaqore_client.resources import Resource, clean
from metaqore_client.retry import retry_delay


def parse_sse(lines: Iterable[str], state: dict[str, Any]) -> Iterator[Event]:
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


class Events(Resource):
    def _params(self, event_types: list[str], project_id: str | None) -> dict[str, Any]:
        params: dict[str, Any] = {"project_id": project_id}
        if event_types:
            params["event_types"] = ",".join(event_types)
        return clean(params)

    @staticmethod
    def _headers(state: dict[str, Any]) -> dict[str, str]:
        headers = {"Accept": "text/event-stream"}
        if state["last_id"] is not None:
            headers["Last-Event-ID"] = str(state["last_id"])
        return headers

    def stream(
        self,
        event_types: Iterable[str] | None = None,
        project_id: str | None = None,
        since: int | None = None,
        *,
        reconnect: bool = True,
    ) -> Any:
        """Live governance events (SSE): an iterator on the sync client, an async iterator on
        the async one. Reconnects after a dropped connection and resumes from the last seq
        received (``Last-Event-ID``), so nothing is lost."""
        types = list(event_types or [])
        if self._client.is_async:
            return self._astream(types, project_id, since, reconnect)
        return self._stream(types, project_id, since, reconnect)

    def _stream(
        self, event_types: list[str], project_id: str | None, since: int | None, reconnect: bool
    ) -> Iterator[Event]:
        state: dict[str, Any] = {"last_id": since}
        attempt = 0
        while True:
            try:
                lines = self._client._stream_lines(
                    "events/stream", self._params(event_types, project_id), self._headers(state)
                )
                for event in parse_sse(lines, state):
                    attempt = 0
                    yield event
            except httpx.TransportError:
                if not reconnect:
                    raise
            if not reconnect:
                return
            time.sleep(retry_delay(None, attempt))
            attempt += 1

    async def _astream(
        self, event_types: list[str], project_id: str | None, since: int | None, reconnect: bool
    ) -> AsyncIterator[Event]:
        state: dict[str, Any] = {"last_id": since}
        attempt = 0
        while True:
            try:
                pending: list[str] = []
                async for line in self._client._stream_lines(
                    "events/stream", self._params(event_types, project_id), self._headers(state)
                ):
                    pending.append(line)
                    if line == "":
                        for event in parse_sse(pending, state):
                            attempt = 0
                            yield event
                        pending = []
            except httpx.TransportError:
                if not reconnect:
                    raise
            if not reconnect:
                return
            await asyncio.sleep(retry_delay(None, attempt))
            attempt += 1
