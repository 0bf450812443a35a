"""Live events, read from the audit trail: which events stream, filters, and reads by seq.

The audit trail is the outbox: every streamed event is an ``AuditEvent`` row written in the
same transaction as the change, and its ``seq`` (gap-free per organization, visible in order
because appends are serialized on the chain head until commit) is the resume cursor of SSE,
WebSocket and webhook subscribers. Nothing here keeps state between calls.

These functions are synchronous and take the schema explicitly: the streaming code calls them
from a small thread pool (``run_db``), whose threads serve every organization in turn.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import partial
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connections
from django.db.models import Q

from compliance.chain import HASHED_FIELDS, format_timestamp
from compliance.models import STREAMED_EVENT_TYPES, AuditChainHead, AuditEvent
from metaqore_site.database import tenant_connection

READ_BATCH = 200  # events per read; a subscriber that is behind reads again at once
MAX_GLOBS = 20
MAX_PROJECT_IDS = 50
_GLOB = re.compile(r"[A-Za-z0-9_.*?-]{1,100}")
_PROJECT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

# A live event carries the hashed fields of its audit event, its type under "type".
MESSAGE_FIELDS = tuple(name for name in HASHED_FIELDS if name != "event_type")


class EventFilterError(ValueError):
    pass


def _prefix(glob: str) -> str:
    return re.split(r"[*?]", glob, maxsplit=1)[0]


def glob_can_match_streamed(glob: str) -> bool:
    """Whether ``glob`` can match some streamed event type (``auth.*`` cannot)."""
    prefix = _prefix(glob)
    for pattern in STREAMED_EVENT_TYPES:
        if pattern.endswith("*"):
            base = pattern[:-1]
            if base.startswith(prefix) or prefix.startswith(base):
                return True
        elif fnmatchcase(pattern, glob):
            return True
    return False


def is_streamed(event_type: str) -> bool:
    return any(fnmatchcase(event_type, pattern) for pattern in STREAMED_EVENT_TYPES)


def parse_globs(values: Iterable[Any]) -> tuple[str, ...]:
    """Validated event-type globs (``artifact.*``, ``conflict.resolved``); empty means all."""
    globs = []
    for value in values:
        if not isinstance(value, str):
            raise EventFilterError("Event types must be strings.")
        value = value.strip()
        if not value:
            continue
        if not _GLOB.fullmatch(value):
            raise EventFilterError(f"Invalid event type pattern {value[:100]!r}.")
        if not glob_can_match_streamed(value):
            raise EventFilterError(
                f"{value!r} matches no live event; live events are "
                f"{', '.join(STREAMED_EVENT_TYPES)}."
            )
        globs.append(value)
    if len(globs) > MAX_GLOBS:
        raise EventFilterError(f"At most {MAX_GLOBS} event type patterns.")
    return tuple(dict.fromkeys(globs))


def parse_project_ids(values: Iterable[Any]) -> tuple[str, ...]:
    ids = []
    for value in values:
        if not isinstance(value, str):
            raise EventFilterError("Project ids must be strings.")
        value = value.strip()
        if not value:
            continue
        if not _PROJECT_ID.fullmatch(value):
            raise EventFilterError(f"Invalid project id {value[:100]!r}.")
        ids.append(value)
    if len(ids) > MAX_PROJECT_IDS:
        raise EventFilterError(f"At most {MAX_PROJECT_IDS} project ids.")
    return tuple(dict.fromkeys(ids))


def parse_cursor(value: Any) -> int | None:
    """A resume cursor (the seq of the last event seen); None when not given."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise EventFilterError("The cursor must be a non-negative integer.")
    try:
        seq = int(str(value).strip())
    except ValueError:
        raise EventFilterError("The cursor must be a non-negative integer.") from None
    if seq < 0 or seq > 2**62:
        raise EventFilterError("The cursor must be a non-negative integer.")
    return seq


@dataclass(frozen=True)
class EventFilter:
    event_types: tuple[str, ...] = ()  # globs; empty = every streamed event
    project_ids: tuple[str, ...] = ()  # empty = every project

    def matches(self, event_type: str, project_id: str = "") -> bool:
        if not is_streamed(event_type):
            return False
        if self.project_ids and project_id not in self.project_ids:
            return False
        return not self.event_types or any(fnmatchcase(event_type, g) for g in self.event_types)

    def as_dict(self) -> dict[str, list[str]]:
        return {"event_types": list(self.event_types), "project_ids": list(self.project_ids)}


def streamed_q() -> Q:
    query = Q()
    for pattern in STREAMED_EVENT_TYPES:
        if pattern.endswith("*"):
            query |= Q(event_type__startswith=pattern[:-1])
        else:
            query |= Q(event_type=pattern)
    return query


def event_message(event: AuditEvent) -> dict[str, Any]:
    """The JSON of a live event: SSE ``data``, WebSocket message and webhook body alike."""
    message = {"type": event.event_type}
    for name in MESSAGE_FIELDS:
        message[name] = getattr(event, name)
    message["timestamp"] = format_timestamp(event.timestamp)
    return message


@dataclass
class EventBatch:
    events: list[dict[str, Any]] = field(default_factory=list)
    cursor: int = 0  # the seq of the last event read (delivered or filtered out)
    more: bool = False  # a full batch: read again right away


def _use_schema(schema: str) -> None:
    close_old_connections()  # honours CONN_MAX_AGE and health checks in pool threads
    tenant_connection.set_schema(schema)


def events_after(schema: str, cursor: int, event_filter: EventFilter) -> EventBatch:
    """The next streamed events of ``schema`` after ``cursor`` matching ``event_filter``
    (from a pool thread: sets the schema on this thread's connection first)."""
    _use_schema(schema)
    return streamed_events_after(cursor, event_filter)


def streamed_events_after(cursor: int, event_filter: EventFilter) -> EventBatch:
    """The next streamed events of the current schema after ``cursor``, in seq order."""
    query = AuditEvent.objects.filter(streamed_q(), seq__gt=cursor)
    if event_filter.project_ids:
        query = query.filter(project_id__in=event_filter.project_ids)
    rows = list(query.order_by("seq").only("event_type", *MESSAGE_FIELDS)[:READ_BATCH])
    batch = EventBatch(cursor=cursor, more=len(rows) == READ_BATCH)
    for event in rows:
        batch.cursor = event.seq
        if event_filter.matches(event.event_type, event.project_id):
            batch.events.append(event_message(event))
    return batch


def head_seq(schema: str) -> int:
    """The seq of the org's last committed event (where a new subscriber starts)."""
    _use_schema(schema)
    return AuditChainHead.objects.filter(pk=1).values_list("seq", flat=True).first() or 0


# --- database access from async code --------------------------------------------------------

_executor: ThreadPoolExecutor | None = None


def _db_executor() -> ThreadPoolExecutor:
    """A few threads (hence database connections) shared by every stream of this process:
    a stream does not hold a connection while it waits."""
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(
            max_workers=settings.METAQORE_STREAM_DB_THREADS, thread_name_prefix="metaqore-events"
        )
    return _executor


async def run_db(func, /, *args, **kwargs):
    """Run a synchronous database function in the streams' thread pool."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_db_executor(), partial(func, *args, **kwargs))


def stream_db_close() -> None:
    """Close the pool threads' database connections and stop the pool (tests, shutdown)."""
    global _executor
    executor, _executor = _executor, None
    if executor is None:
        return
    threads = len(executor._threads)
    if threads:
        # One task per thread: each waits for the others, so every thread closes its own.
        barrier = threading.Barrier(threads)

        def close() -> None:
            barrier.wait(timeout=10)
            connections.close_all()

        for _ in range(threads):
            executor.submit(close)
    executor.shutdown(wait=True)
