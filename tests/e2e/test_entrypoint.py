"""bin/entrypoint.sh, the container entrypoint, run outside Docker against the machine's
PostgreSQL: wait for the database, migrate, create the demo org, serve with gunicorn."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

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

    server = subprocess.Popen(
        ["bash", "bin/entrypoint.sh", "web"],
        cwd=ROOT,
        env={**env, "METAQORE_MIGRATE_ON_START": "true"},
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
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        assert status == 200 and json.loads(body)["database"] == "ok"
        headers = {"Host": "acme.localhost", "Authorization": f"Bearer {credentials['agent_key']}"}
        status, _, body = http("GET", f"{base}/api/v1/projects", headers=headers)
        assert status == 200, body
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
        server.stderr.close()


def test_wait_for_database_gives_up(tmp_path):
    env = subprocess_env(
        DATABASE_URL="postgresql://postgres@127.0.0.1:1/nowhere",
        METAQORE_DB_WAIT_SECONDS="2",
        PYTHON=__import__("sys").executable,
    )
    result = run_entrypoint("migrate", env=env, timeout=60)
    assert result.returncode == 1
    assert "database not reachable" in result.stderr
