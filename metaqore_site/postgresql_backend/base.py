"""The database backend: django-tenants' PostgreSQL backend (one schema per organization), with
two round trips taken off every request (issue #24).

- **The pool's check** (``idle_connection_check``): psycopg_pool's own check sends an empty
  query each time it lends a connection. This one looks at the socket instead, and sends the
  query only when the server spoke first.
- **The search path** (``SET search_path``): django-tenants sets it on the first query of every
  request, because a pooled connection may come back from another organization's request.
  This backend remembers, per physical connection, the search path that connection's session
  has, and skips the ``SET`` when it is already the one wanted.

What is remembered must be what the session has, or a request would read another
organization's schema. So a search path is remembered only after a ``SET`` that ran outside a
transaction (autocommit: it holds until the next ``SET``; one inside a transaction is undone
by a rollback), and forgotten before every ``SET`` this backend sends. Nothing else may change
a session's search path; code that runs SQL which does must call
:meth:`DatabaseWrapper.forget_search_path` (``tenants.provisioning`` does, after cloning a
schema). With ``METAQORE_VERIFY_SEARCH_PATH`` on (the test servers), every skipped ``SET`` is
checked against ``SHOW search_path`` and a mismatch raises.
"""

from __future__ import annotations

import os
import select
import weakref
from typing import Any

import psycopg
from django_tenants.postgresql_backend.base import DatabaseWrapper as TenantDatabaseWrapper
from django_tenants.utils import get_limit_set_calls
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool

# Physical connection -> the search path its session has (see the module docstring).
_session_search_paths: weakref.WeakKeyDictionary[psycopg.Connection, tuple[str, ...]] = (
    weakref.WeakKeyDictionary()
)


class SearchPathMismatch(RuntimeError):
    """A session's search path is not the one this backend remembered for it."""


def idle_connection_check(conn: psycopg.Connection) -> None:
    """The pool's check before it lends a connection: raises if the connection is dead, so the
    pool replaces it (a restarted database costs no failed request).

    An idle connection has nothing to read, so a readable socket means the server spoke first:
    it closed the connection, or sent a termination notice or a notification. Only then does
    the full check (an empty query) run, which raises on a dead connection. A server that
    vanishes without a word is caught by the request that meets it (503,
    ``metaqore_site.outage``), and that connection is discarded.
    """
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the pooled connection is closed")
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
    if poller.poll(0):
        ConnectionPool.check_connection(conn)


def _verifying() -> bool:
    return os.environ.get("METAQORE_VERIFY_SEARCH_PATH", "").lower() in {"1", "true", "yes"}


class DatabaseWrapper(TenantDatabaseWrapper):
    search_path_set_schemas: list[str] | None  # django-tenants': the path this request set

    @property
    def pool(self) -> ConnectionPool | None:
        pool = super().pool
        # Django builds the pool with psycopg_pool's check (or none); this one replaces it.
        # psycopg_pool keeps the check in ``_check`` (pinned version; tests/test_database_pool.py).
        if pool is not None and pool._check is not idle_connection_check:
            pool._check = idle_connection_check
        return pool

    def _handle_search_path(self, cursor: Any = None) -> None:
        if self._setting_search_path or (get_limit_set_calls() and self.search_path_set_schemas):
            return
        raw = self.connection
        if raw is None:
            super()._handle_search_path(cursor)
            return
        wanted = tuple(self._get_cursor_search_paths())
        if _session_search_paths.get(raw) == wanted:
            if _verifying():
                with self.wrap_database_errors:  # a lost connection is an outage, as elsewhere
                    self._verify_search_path(raw, wanted)
            self.search_path_set_schemas = list(wanted)
            return
        _session_search_paths.pop(raw, None)  # unknown until the SET below holds
        super()._handle_search_path(cursor)
        if (
            self.search_path_set_schemas is not None
            and raw.info.transaction_status == TransactionStatus.IDLE
        ):
            _session_search_paths[raw] = wanted

    def forget_search_path(self) -> None:
        """SQL outside this backend may have changed the session's search path: the next query
        sets it again."""
        if self.connection is not None:
            _session_search_paths.pop(self.connection, None)
        self.search_path_set_schemas = None

    @staticmethod
    def _verify_search_path(raw: psycopg.Connection, wanted: tuple[str, ...]) -> None:
        with raw.cursor() as cursor:
            cursor.execute("SHOW search_path")
            row = cursor.fetchone()
        actual = tuple(part.strip().strip('"') for part in (row[0] if row else "").split(","))
        if actual != wanted:
            raise SearchPathMismatch(f"session search path {actual}, remembered {wanted}")
