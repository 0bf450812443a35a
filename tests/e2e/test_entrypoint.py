"""bin/entrypoint.sh, the container entrypoint, run outside Docker against the machine's
PostgreSQL: wait for the database, migrate, create the demo org, serve with gunicorn."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from tests.e2e.conftest import SERVER
from tests.processes import ROOT, free_port, http, subprocess_env

pytestmark = pytest.mark.e2e


def run_entrypoint(*args: str, env: dict, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "bin/entrypoint.sh", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@contextlib.contextmanager
def entrypoint_web(
    env: dict, port: int, command: str = "web"
) -> Iterator[tuple[str, tuple[int, bytes]]]:
    """``bin/entrypoint.sh web`` (or ``api``) until the block ends: its base URL and its first
    answer to ``GET /api/v1/health`` (status, body), once it answers at all."""
    server = subprocess.Popen(
        ["bash", "bin/entrypoint.sh", command],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _, body = http("GET", f"{base}/api/v1/health")
                break
            except OSError:
                assert server.poll() is None, server.stderr.read()
                assert time.monotonic() < deadline, f"entrypoint {command} did not start"
                time.sleep(0.2)
        yield base, (status, body)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
        server.stderr.close()


def test_migrate_then_web(fresh_database, tmp_path):
    port = free_port()
    env = subprocess_env(
        DATABASE_URL=fresh_database,
        PYTHON=os.environ.get("PYTHON", __import__("sys").executable),
        METAQORE_DEMO_ORG="true",
        METAQORE_DATA_DIR=str(tmp_path),  # demo credentials land here, not in the checkout
        PORT=str(port),
        WEB_CONCURRENCY="1",
        METAQORE_ENABLE_RATE_LIMIT="false",
    )
    migrated = run_entrypoint("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    assert "demo organization 'acme'" in migrated.stdout
    credentials = json.loads((tmp_path / "demo_credentials.json").read_text())

    with entrypoint_web({**env, "METAQORE_MIGRATE_ON_START": "true"}, port) as (base, health):
        status, body = health
        assert status == 200 and json.loads(body)["database"] == "ok"
        headers = {"Host": "acme.localhost", "Authorization": f"Bearer {credentials['agent_key']}"}
        status, _, body = http("GET", f"{base}/api/v1/projects", headers=headers)
        assert status == 200, body

    # The API server (Granian): migrations already applied, the same org answers
    with entrypoint_web(env, port, command="api") as (base, health):
        assert health[0] == 200 and json.loads(health[1])["database"] == "ok"
        status, response, body = http("GET", f"{base}/api/v1/projects", headers=headers)
        assert status == 200, body
        assert response["Server"] == "granian"


def test_wait_for_database_gives_up(tmp_path):
    env = subprocess_env(
        DATABASE_URL="postgresql://postgres@127.0.0.1:1/nowhere",
        METAQORE_DB_WAIT_SECONDS="2",
        PYTHON=__import__("sys").executable,
    )
    result = run_entrypoint("migrate", env=env, timeout=60)
    assert result.returncode == 1
    assert "database not reachable" in result.stderr


def test_two_roles_migrate_as_owner_and_serve_as_runtime(fresh_database, tmp_path):
    """DATABASE_OWNER_URL migrates (and creates the runtime role of DATABASE_URL); the server
    connects as that role, which is neither superuser nor owner: check --deploy is quiet."""
    role = f"metaqore_rt_{secrets.token_hex(3)}"
    password = secrets.token_hex(8)
    runtime_url = fresh_database.replace("postgres@", f"{role}:{password}@", 1)
    port = free_port()
    env = subprocess_env(
        DATABASE_URL=runtime_url,
        DATABASE_OWNER_URL=fresh_database,
        PYTHON=os.environ.get("PYTHON", __import__("sys").executable),
        METAQORE_DEMO_ORG="true",
        METAQORE_DATA_DIR=str(tmp_path),
        PORT=str(port),
        WEB_CONCURRENCY="1",
        METAQORE_ENABLE_RATE_LIMIT="false",
    )
    try:
        migrated = run_entrypoint("migrate", env=env)
        assert migrated.returncode == 0, migrated.stderr
        credentials = json.loads((tmp_path / "demo_credentials.json").read_text())
        checked = subprocess.run(
            [env["PYTHON"], "manage.py", "check", "--deploy"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert "metaqore.W00" not in checked.stdout + checked.stderr
        same_role = subprocess.run(
            [env["PYTHON"], "manage.py", "check", "--deploy"],
            cwd=ROOT, env={**env, "DATABASE_URL": fresh_database}, capture_output=True,
            text=True, timeout=120, check=False,
        )  # fmt: skip
        assert "metaqore.W001" in same_role.stdout + same_role.stderr  # postgres: superuser

        web_env = {**env, "METAQORE_MIGRATE_ON_START": "false"}
        with entrypoint_web(web_env, port) as (base, health):
            status, body = health
            assert status == 200, body
            headers = {
                "Host": "acme.localhost",
                "Authorization": f"Bearer {credentials['agent_key']}",
                "Content-Type": "application/json",
            }
            status, _, body = http(
                "POST", f"{base}/api/v1/projects", headers=headers, body=b'{"name": "as-runtime"}'
            )
            assert status == 201, body
        with psycopg.connect(runtime_url) as conn:
            query = "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
            assert conn.execute(query).fetchone() == (False,)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SET session_replication_role = replica")
    finally:
        with psycopg.connect(fresh_database, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        # the role goes after its database (fresh_database drops it): left for the cleanup below
        _roles_to_drop.append(role)


_roles_to_drop: list[str] = []


@pytest.fixture(autouse=True, scope="module")
def _drop_runtime_roles():
    yield
    if not _roles_to_drop:
        return
    with psycopg.connect(host=SERVER[0], port=SERVER[1], user="postgres", autocommit=True) as c:
        for role in _roles_to_drop:
            c.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
