"""Process caches for who a request is (its organization, its agent key), invalidated through
PostgreSQL LISTEN/NOTIFY, with a short time to live as a backstop.

Every request resolves its organization from its host and, with an API key, the key from its
prefix: two queries (and a ``SET search_path``) that almost always return what they returned a
moment ago. Each process keeps what it read, and drops it the moment the database says it
changed: triggers on the organizations, domains and agent keys (``tenants.models``,
``access.models``) run ``NOTIFY metaqore_cache, '<kind>'`` in the writing transaction, so
PostgreSQL delivers it on commit to every process that listens. One thread per process holds
a ``LISTEN`` connection.

Safety (a cache must never widen access, e.g. keep accepting a revoked key):

- an entry is served only while this process's listener is connected, and only if it was read
  after the listener connected: a process that lost its listener reads from the database on
  every request until it listens again (everything cached before is dropped);
- an entry read while a change of its kind was announced is not stored (the read may predate
  the change);
- what is read inside a transaction is not stored (it may see rows that never commit);
- every entry expires ``METAQORE_RESOLUTION_CACHE_SECONDS`` (5) after it was read, whatever the
  listener says; 0 turns the caches off.

What is cached is what the row says; every request still checks the key's hash, its expiry
and revocation against it, and the organization's slug against the header.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import psycopg
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Model
from django.db.models.signals import post_delete, post_save

logger = logging.getLogger(__name__)

CHANNEL = "metaqore_cache"
HEARTBEAT_SECONDS = 5.0  # the listener proves its connection alive this often
MAX_ENTRIES = 10_000  # per cache; past it the cache starts over (a bound, not a policy)

Value = TypeVar("Value")


@dataclass(frozen=True)
class _Entry(Generic[Value]):
    value: Value
    read_at: float
    version: tuple[int, int]


class _Listener:
    """The process's LISTEN connection, on a daemon thread started on first use."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.connected = False
        self.generation = 0  # +1 on every (dis)connection: older entries are void
        self.versions: dict[str, int] = {}  # kind -> changes announced
        self.pid: int | None = None
        self.backend_pid: int | None = None  # the LISTEN connection's PostgreSQL backend
        self.thread: threading.Thread | None = None
        self.stopping = False

    def ensure_started(self) -> None:
        if self.pid == os.getpid() and self.thread is not None and self.thread.is_alive():
            return
        with self.lock:
            if self.pid == os.getpid() and self.thread is not None and self.thread.is_alive():
                return
            self.pid, self.connected = os.getpid(), False  # a forked child starts afresh
            self.stopping = False
            self.generation += 1
            self.thread = threading.Thread(target=self._run, name="metaqore-cache", daemon=True)
            self.thread.start()

    def version(self, kind: str) -> tuple[int, int] | None:
        """What an entry of ``kind`` read now must match to be served (None: do not cache)."""
        if not self.connected:
            return None
        return (self.generation, self.versions.get(kind, 0))

    def heard(self, kind: str) -> None:
        """A notification arrived (another process's change, or this one's)."""
        self.announce(kind)

    def announce(self, kind: str) -> None:
        with self.lock:
            self.versions[kind] = self.versions.get(kind, 0) + 1

    def _connection_params(self) -> dict[str, Any]:
        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        params.pop("prepare_threshold", None)
        return {key: value for key, value in params.items() if value not in (None, "")}

    def stop(self, timeout: float = 5.0) -> None:
        """End the listener (its connection closes); the next cache use starts it again."""
        thread, pid = self.thread, self.backend_pid
        if thread is None or not thread.is_alive():
            return
        self.stopping = True
        if pid is not None:
            with psycopg.connect(**self._connection_params(), autocommit=True) as conn:
                conn.execute("SELECT pg_terminate_backend(%s)", [pid])
        thread.join(timeout)

    def _run(self) -> None:
        backoff = 0.5
        while not self.stopping:
            try:
                with psycopg.connect(**self._connection_params(), autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.backend_pid = conn.info.backend_pid
                    with self.lock:
                        self.generation += 1
                        self.connected = True
                    backoff = 0.5
                    while True:
                        for notify in conn.notifies(timeout=HEARTBEAT_SECONDS):
                            self.heard(notify.payload)
                        conn.execute("SELECT 1")  # a dead connection raises here
            except Exception:
                if not self.stopping:
                    logger.warning("Resolution cache listener lost its connection; retrying")
            finally:
                with self.lock:
                    self.connected = False
                    self.generation += 1
            time.sleep(backoff)
            backoff = min(backoff * 2, 10.0)


_listener = _Listener()


def enabled() -> bool:
    return settings.METAQORE_RESOLUTION_CACHE_SECONDS > 0


class ResolutionCache(Generic[Value]):
    """``get(kind, key, load)``: ``load()``'s result, from this process's memory when it is
    still known to be current (see the module docstring)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._entries: dict[tuple[str, str], _Entry[Value]] = {}

    def get(self, kind: str, key: str, load: Callable[[], Value]) -> Value:
        ttl = settings.METAQORE_RESOLUTION_CACHE_SECONDS
        # Inside a transaction the read may see rows that never commit: not worth keeping.
        if ttl <= 0 or connection.in_atomic_block:
            return load()
        _listener.ensure_started()
        before = _listener.version(kind)
        if before is None:
            return load()
        entry = self._entries.get((kind, key))
        now = time.monotonic()
        if entry is not None and entry.version == before and now - entry.read_at < ttl:
            return entry.value
        value = load()
        with _listener.lock:
            if _listener.version(kind) == before:  # nothing changed while it was read
                if len(self._entries) >= MAX_ENTRIES:
                    self._entries.clear()
                self._entries[(kind, key)] = _Entry(value, now, before)
        return value

    def clear(self) -> None:
        self._entries.clear()


def announce_on_commit(kind: str) -> None:
    """This process's own writes void its entries as soon as they commit, without waiting
    for its listener to hear the notification (which every other process relies on)."""
    transaction.on_commit(lambda: _listener.announce(kind))


def invalidate_on_change(model: type[Model], kind: Callable[[], str]) -> None:
    """Connect ``model``'s saves and deletes in this process to :func:`announce_on_commit`."""

    def changed(**_kwargs: Any) -> None:
        announce_on_commit(kind())

    label = f"resolution-cache:{model._meta.label}"
    post_save.connect(changed, sender=model, weak=False, dispatch_uid=label + ":save")
    post_delete.connect(changed, sender=model, weak=False, dispatch_uid=label + ":delete")


def wait_until_listening(timeout: float = 5.0) -> bool:
    """Start this process's listener and wait for it (tests; the first requests)."""
    _listener.ensure_started()
    deadline = time.monotonic() + timeout
    while not _listener.connected and time.monotonic() < deadline:
        time.sleep(0.02)
    return _listener.connected


def stop_listening() -> None:
    """Close this process's LISTEN connection (tests, before they drop their database)."""
    _listener.stop()


def notify_sql(kind_sql: str) -> str:
    """The body of a trigger function announcing a change (``kind_sql``: an SQL expression)."""
    return f"PERFORM pg_notify('{CHANNEL}', {kind_sql}); RETURN NULL;"
