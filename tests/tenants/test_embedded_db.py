"""The embedded PostgreSQL helper, against throw-away data dirs (never the project's `.data/`).

These tests need no Django database: they start their own servers and stop them at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest

from metaqore_site import embedded_db
from tests.processes import manage, subprocess_env

ROOT = Path(__file__).resolve().parents[2]


def connect(info: embedded_db.ConnectionInfo, dbname: str = embedded_db.DATABASE_NAME):
    return psycopg.connect(
        host=info.host, port=info.port, user=info.user, dbname=dbname, connect_timeout=5
    )


def scratch_dir() -> Path:
    """A fresh folder directly under /tmp, not under pytest's tmp_path: as root, postgres runs as
    the user `pgserver`, which needs to traverse the parents, and every new pytest session
    (another run on this machine) resets /tmp/pytest-of-<user> to mode 700."""
    return Path(tempfile.mkdtemp(prefix="metaqore-embedded-test-"))


@pytest.fixture(scope="module")
def shared_dir() -> Iterator[Path]:
    """One initialized data dir for the module: `initdb` is the slow part (~0.7 s)."""
    scratch = scratch_dir()
    yield scratch / "data"
    embedded_db.stop(scratch / "data")
    shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture
def data_dir(shared_dir) -> Path:
    yield shared_dir
    embedded_db.stop(shared_dir)


def test_fresh_start_returns_socket_host_and_port():
    scratch = scratch_dir()
    data_dir = scratch / "fresh"
    try:
        info = embedded_db.ensure_running(data_dir)
        pgdata = data_dir.resolve() / "pg"
        assert info.pgdata == pgdata
        assert (pgdata / "PG_VERSION").exists()
        # The socket lives in the data dir: HOST is a directory, not a hostname.
        assert Path(info.host).is_dir()
        assert (Path(info.host) / f".s.PGSQL.{info.port}").exists()
        assert info.port > 0
        assert psutil.Process(info.pid).name() == "postgres"
        with connect(info) as conn:
            # The dedicated database (not `postgres`) was created.
            assert conn.execute("SELECT current_database()").fetchone() == ("metaqore",)
            # A new cluster is configured for many clients (server, commands, test runs).
            assert conn.execute("SHOW max_connections").fetchone() == (
                str(embedded_db.MAX_CONNECTIONS),
            )
    finally:
        embedded_db.stop(data_dir)
        shutil.rmtree(scratch, ignore_errors=True)


def test_second_ensure_running_reuses_the_server(data_dir):
    first = embedded_db.ensure_running(data_dir)
    again = embedded_db.ensure_running(data_dir)
    assert again.pid == first.pid
    # Also when this process's cache is cold (another command starting up).
    embedded_db._started.clear()
    cold = embedded_db.ensure_running(data_dir)
    assert cold.pid == first.pid
    with connect(cold) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_status_and_stop(data_dir):
    info = embedded_db.ensure_running(data_dir)
    status = embedded_db.status(data_dir)
    assert status == {
        "pgdata": str(info.pgdata),
        "running": True,
        "pid": info.pid,
        "socket_dir": info.host,
        "socket": f"{info.host}/.s.PGSQL.{info.port}",
    }
    assert embedded_db.stop(data_dir) is True
    assert not (info.pgdata / "postmaster.pid").exists()
    assert embedded_db.status(data_dir) == {"pgdata": str(info.pgdata), "running": False}
    assert embedded_db.stop(data_dir) is False
    with pytest.raises(psycopg.OperationalError):
        connect(info).close()


def test_stale_postmaster_pid_of_a_live_non_postgres_process_is_ignored(data_dir):
    """pgserver trusts postmaster.pid whenever a process with that pid exists; after a crash
    the pid is often reused by something else, and the server would never start again."""
    info = embedded_db.ensure_running(data_dir)
    pidfile = info.pgdata / "postmaster.pid"
    real_lines = pidfile.read_text().splitlines()
    assert embedded_db.stop(data_dir) is True
    assert not pidfile.exists()

    # A crash leaves the file behind, and our own (live, non-postgres) pid now owns that number.
    pidfile.write_text("\n".join([str(os.getpid()), *real_lines[1:]]) + "\n")
    assert embedded_db.status(data_dir)["running"] is False

    restarted = embedded_db.ensure_running(data_dir)
    assert restarted.pid != os.getpid()
    assert psutil.Process(restarted.pid).name() == "postgres"
    with connect(restarted) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_pidfile_of_a_dead_process_is_ignored(data_dir):
    info = embedded_db.ensure_running(data_dir)
    real_lines = (info.pgdata / "postmaster.pid").read_text().splitlines()
    embedded_db.stop(data_dir)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (info.pgdata / "postmaster.pid").write_text("\n".join([str(dead.pid), *real_lines[1:]]))

    restarted = embedded_db.ensure_running(data_dir)
    with connect(restarted) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


CONCURRENT_START = """
import json, sys
from pathlib import Path
from metaqore_site import embedded_db
from tests.processes import manage, subprocess_env
info = embedded_db.ensure_running(Path(sys.argv[1]))
print(json.dumps({"pid": info.pid, "host": info.host, "port": info.port}))
"""


def test_two_processes_starting_at_once_share_one_server(data_dir):
    embedded_db.stop(data_dir)  # both processes race to start it
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT_START, str(data_dir)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert results[0] == results[1]
    # The server outlives both processes (cleanup_mode=None) and is the one status reports.
    assert embedded_db.status(data_dir)["pid"] == results[0]["pid"]
    info = embedded_db.ensure_running(data_dir)
    assert info.pid == results[0]["pid"]
    with connect(info) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_manage_py_embedded_db_status_and_stop(data_dir):
    """The commands an operator types, on a data dir of their own (DATABASE_URL unset)."""
    env = subprocess_env(METAQORE_DATA_DIR=str(data_dir))
    env.pop("DATABASE_URL", None)
    env.pop("XDG_RUNTIME_DIR", None)  # pgserver would warn about it; the helper must not

    # `embedded_db status` only inspects: before anything started the server, it is not running.
    before = manage("embedded_db", "status", env=env)
    assert before.returncode == 0, before.stderr
    assert json.loads(before.stdout)["running"] is False
    assert manage("check", env=env).returncode == 0  # any other command starts it

    status = manage("embedded_db", "status", env=env)
    assert status.returncode == 0, status.stderr
    reported = json.loads(status.stdout)
    assert reported["running"] is True
    assert reported["pgdata"] == str(data_dir.resolve() / "pg")
    assert psutil.Process(reported["pid"]).name() == "postgres"
    assert "XDG_RUNTIME_DIR" not in status.stderr

    stopped = manage("embedded_db", "stop", env=env)
    assert stopped.returncode == 0, stopped.stderr
    assert "Embedded PostgreSQL stopped." in stopped.stdout
    assert embedded_db.status(data_dir)["running"] is False
    after = manage("embedded_db", "status", env=env)  # and status does not start it again
    assert json.loads(after.stdout)["running"] is False
    again = manage("embedded_db", "stop", env=env)
    assert "was not running" in again.stdout
