"""Fan-out of live events across processes: PostgreSQL LISTEN/NOTIFY.

Every streamed audit event is announced by a trigger (``NOTIFY metaqore_events,
'<schema>:<seq>'``, delivered only when its transaction commits). Each process running
streams holds one listening connection per event loop (``EventHub``) while it has
subscribers; a notification only wakes the subscribers of that schema, which then read the new
rows by seq (``events.events.events_after``). The hub holds no events, only who is
waiting: a missed notification (the listener reconnecting, say) costs latency, never events,
because subscribers also re-read on every heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection

from compliance.models import EVENTS_CHANNEL
from events.events import EventFilter, events_after, run_db

logger = logging.getLogger(__name__)

READY_TIMEOUT = 5.0  # seconds a new subscriber waits for LISTEN before it reads anyway
RECONNECT_DELAY = 1.0
# Django's OPTIONS that are not libpq connection parameters.
_DJANGO_OPTIONS = {"isolation_level", "server_side_binding", "pool", "assume_role", "context"}


def listen_params() -> dict[str, Any]:
    """libpq parameters of the ``default`` database for a dedicated listening connection."""
    config = connection.settings_dict
    params = {
        "dbname": config["NAME"],
        "user": config.get("USER") or None,
        "password": config.get("PASSWORD") or None,
        "host": config.get("HOST") or None,
        "port": config.get("PORT") or None,
    }
    params.update(
        {k: v for k, v in (config.get("OPTIONS") or {}).items() if k not in _DJANGO_OPTIONS}
    )
    return {k: v for k, v in params.items() if v is not None}


class EventHub:
    """One LISTEN connection for the subscribers of one event loop."""

    def __init__(self) -> None:
        self._waiting: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._task: asyncio.Task | None = None
        self._ready = asyncio.Event()

    @contextlib.asynccontextmanager
    async def subscription(self, schema: str) -> AsyncIterator[asyncio.Event]:
        """An event set whenever ``schema`` may have new streamed events."""
        wake = asyncio.Event()
        self._waiting[schema].add(wake)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._listen(), name="metaqore-event-listener")
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), READY_TIMEOUT)
            yield wake
        finally:
            self._waiting[schema].discard(wake)
            if not self._waiting[schema]:
                del self._waiting[schema]
            if not self._waiting and self._task is not None:
                self._task.cancel()  # an idle process holds no listening connection
                self._task = None
                self._ready.clear()

    def _wake(self, schema: str | None = None) -> None:
        groups = [self._waiting.get(schema, ())] if schema else list(self._waiting.values())
        for group in groups:
            for wake in group:
                wake.set()

    async def _listen(self) -> None:
        while True:
            try:
                params = listen_params()
                async with await psycopg.AsyncConnection.connect(autocommit=True, **params) as conn:
                    await conn.execute(f"LISTEN {EVENTS_CHANNEL}")
                    self._ready.set()
                    self._wake()  # whatever committed while nobody was listening
                    async for note in conn.notifies():
                        self._wake(note.payload.partition(":")[0])
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("Live events: the listening connection failed; reconnecting")
            self._ready.clear()
            self._wake()  # subscribers fall back to their heartbeat reads meanwhile
            await asyncio.sleep(RECONNECT_DELAY)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, EventHub] = weakref.WeakKeyDictionary()


def event_hub() -> EventHub:
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = EventHub()
    return hub


async def event_feed(
    *, schema: str, cursor: int, event_filter: EventFilter, heartbeat: float | None = None
) -> AsyncIterator[dict[str, Any] | None]:
    """Streamed events of ``schema`` after ``cursor``, in seq order, forever.

    Yields each matching event (a dict with its ``seq``), and None after ``heartbeat`` seconds
    without one (the caller sends a keep-alive). Resuming from the last seq seen loses nothing.
    """
    if heartbeat is None:
        heartbeat = settings.METAQORE_SSE_HEARTBEAT_SECONDS
    async with event_hub().subscription(schema) as wake:
        while True:
            wake.clear()  # before reading: a commit announced during the read wakes us again
            batch = await run_db(events_after, schema, cursor, event_filter)
            cursor = batch.cursor
            for event in batch.events:
                yield event
            if batch.more:
                continue
            try:
                await asyncio.wait_for(wake.wait(), heartbeat)
            except TimeoutError:
                yield None
