"""Real worker processes (``manage.py run_worker``) against the test database, and a clean
queue around each test that uses them (their jobs are committed)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from django.db import connection

from jobs.queue import SCHEDULES, schedule_env_name
from metaqore_site.database import EMBEDDED_RUNTIME_ROLE
from tests.events.live import committed
from tests.processes import ROOT, database_url, subprocess_env

T = TypeVar("T")

# Short heartbeats so that a killed worker is found dead within seconds.
FAST = {
    "METAQORE_WORKER_HEARTBEAT_SECONDS": "0.5",
    "METAQORE_WORKER_STALLED_SECONDS": "2",
    "METAQORE_WORKER_SHUTDOWN_SECONDS": "5",
    "METAQORE_LOG_FORMAT": "text",
}


def worker_env(**overrides: str) -> dict[str, str]:
    """A worker's environment: the test database, as the runtime role (as in production: no
    superuser, no owner; its privileges are granted after every migrate). Every schedule is
    off unless the test turns it on: a scheduled job would otherwise commit into the session's
    shared orgs (a checkpoint in ``alpha``), which later tests do not expect."""
    runtime = {**connection.settings_dict, "USER": EMBEDDED_RUNTIME_ROLE, "PASSWORD": ""}
    quiet = {schedule_env_name(name): "off" for name in SCHEDULES}
    return subprocess_env(DATABASE_URL=database_url(runtime), **FAST, **{**quiet, **overrides})


@contextlib.contextmanager
def running_worker(
    env: dict[str, str], *args: str, log: Path | None = None
) -> Iterator[subprocess.Popen]:
    """``manage.py run_worker *args`` until the block ends (SIGTERM, then SIGKILL)."""
    out = open(log, "w+") if log else subprocess.DEVNULL  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "run_worker", *args],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        if log:
            out.close()  # type: ignore[union-attr]


def wait_for(check: Callable[[], T], timeout: float = 30, interval: float = 0.2) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s; last value: {value!r}")
        time.sleep(interval)


def queue_rows(sql: str, params: list | None = None) -> list[tuple]:
    """Rows of a query on the queue tables, read from a connection of its own (committed)."""

    def read():
        with connection.cursor() as cursor:
            cursor.execute(sql, params or [])
            return cursor.fetchall()

    return committed(read)


def queue_clear() -> None:
    def clear():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM procrastinate_periodic_defers")
            cursor.execute("DELETE FROM procrastinate_jobs")
            cursor.execute("DELETE FROM procrastinate_workers")

    committed(clear)
