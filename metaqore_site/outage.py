"""Database outages: answer 503 with ``Retry-After`` (never 500), and bring the embedded
PostgreSQL back when it died.

Every path that can meet a lost connection ends here: DRF's exception handler, the
``handler500`` view (middleware errors), :class:`DatabaseOutageMiddleware` (views outside DRF,
e.g. the dashboard), the tenant and rate-limit middleware and the health check. Once
PostgreSQL answers again the server recovers by itself: pooled connections are checked before
use (``postgresql_backend.base.idle_connection_check``), so broken ones are replaced.

Embedded mode (no ``DATABASE_URL``): the first outage a process sees starts a background
revival, at most one every ``REVIVE_INTERVAL`` seconds per process, which runs
``embedded_db.ensure_running`` (a file lock makes one process start the server; a stale
``postmaster.pid`` left by a killed postmaster is removed first).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

from metaqore_site import embedded_db

logger = logging.getLogger(__name__)

# A lost or refused connection, a closed one, a pool that found none in time.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
REVIVE_INTERVAL = 2.0  # seconds between two revival attempts of one process

_revive_lock = threading.Lock()
_last_revive = 0.0


def database_unavailable(exc: BaseException | None) -> bool:
    """True when ``exc`` (or what caused it) means the database cannot be reached."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, DATABASE_UNAVAILABLE):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def retry_after_seconds() -> int:
    return settings.METAQORE_OUTAGE_RETRY_AFTER_SECONDS


def outage_payload() -> dict[str, str]:
    return {
        "status": "error",
        "database": "error",
        "detail": "The database is unavailable; retry shortly.",
        "code": "database_unavailable",
    }


def database_unavailable_response(request: HttpRequest | None = None) -> HttpResponse:
    """503 with ``Retry-After``; starts reviving the embedded database if there is one."""
    embedded_database_revive()
    body = outage_payload()
    request_id = getattr(request, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    response = JsonResponse(body, status=503)
    response["Retry-After"] = str(retry_after_seconds())
    return response


def embedded_mode() -> bool:
    return not os.environ.get("DATABASE_URL", "").strip()


def embedded_database_revive(*, wait: bool = False) -> None:
    """Restart the embedded PostgreSQL in the background if it is not running (embedded mode
    only; throttled per process). ``wait`` runs it in this thread (tests, commands)."""
    global _last_revive
    if not embedded_mode():
        return
    with _revive_lock:
        now = time.monotonic()
        if now - _last_revive < REVIVE_INTERVAL:
            return
        _last_revive = now
    if wait:
        _revive()
    else:
        threading.Thread(target=_revive, name="embedded-db-revive", daemon=True).start()


def _revive() -> None:
    try:
        pgdata = embedded_db.default_data_dir() / "pg"
        if embedded_db.postmaster_is_live(pgdata):
            return
        logger.warning("The embedded PostgreSQL is not running: starting it again")
        info = embedded_db.ensure_running()
        logger.warning("The embedded PostgreSQL runs again (pid %s)", info.pid)
    except Exception:  # the next outage tries again
        logger.exception("Could not restart the embedded PostgreSQL")


class DatabaseOutageMiddleware:
    """A view that lost its database connection answers 503 + Retry-After, not 500."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if database_unavailable(exception):
            logger.warning("Database unavailable: %s", exception)
            return database_unavailable_response(request)
        return None
