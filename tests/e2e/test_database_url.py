"""With DATABASE_URL set, the app runs on that server: migrate, check, provision, serve.

Uses the system PostgreSQL at 127.0.0.1:5432 (a fresh database, dropped at the end).
"""

from __future__ import annotations

import json
import secrets

import psycopg
import pytest

from tests.processes import http, manage, running_server, subprocess_env

pytestmark = pytest.mark.e2e


def test_database_url_end_to_end(fresh_database):
    env = subprocess_env(DATABASE_URL=fresh_database)

    def ok(*args: str) -> str:
        result = manage(*args, env=env)
        assert result.returncode == 0, f"{args}: {result.stderr}"
        return result.stdout

    ok("migrate_schemas", "--verbosity", "0")
    ok("check")
    ok("create_org", "omega", "--name", "Omega", "--domain", "omega.localhost")
    ok("create_user", "--org", "omega", "olga", "--password", "pw-Olga-123", "--role", "org_admin")
    key = ok("create_agent_key", "--org", "omega", "--agent", "e2e").strip().splitlines()[-1]
    assert key.startswith("mq_")

    # Everything landed in that database (and not in the embedded one).
    with psycopg.connect(fresh_database) as conn:
        assert conn.execute("SELECT slug FROM tenants_organization").fetchall() == [("omega",)]
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'org_omega'"
        ).fetchall()
        assert ("projects_project",) in tables

    # Deploy checks with production settings: nothing left that configuration could fix.
    production = {
        **env,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "METAQORE_HSTS_SECONDS": "31536000",
        "METAQORE_SSL_REDIRECT": "true",
    }
    deploy = manage("check", "--deploy", env=production)
    assert deploy.returncode == 0, deploy.stderr
    assert "security.W" not in deploy.stdout + deploy.stderr

    with running_server(env) as base:
        org = {"Host": "omega.localhost", "Content-Type": "application/json"}
        status, _, body = http("GET", f"{base}/api/v1/health", headers=org)
        assert status == 200, body
        assert json.loads(body)["organization"] == "omega"

        status, _, _ = http("GET", f"{base}/api/v1/projects", headers=org)
        assert status == 401

        auth = {**org, "Authorization": f"Bearer {key}"}
        status, _, body = http(
            "POST", f"{base}/api/v1/projects", headers=auth, body=b'{"name": "From e2e"}'
        )
        assert status == 201, body
        project = json.loads(body)
        assert project["owner_id"] == "agent:e2e"

        # The bare host plus the org header is the same org.
        by_header = {"X-MetaQore-Org": "omega", "X-API-Key": key}
        status, headers, body = http(
            "GET", f"{base}/api/v1/projects", headers={**by_header, "X-Request-ID": "e2e-1"}
        )
        assert status == 200, body
        assert headers["X-Request-ID"] == "e2e-1"
        assert [p["id"] for p in json.loads(body)["results"]] == [project["id"]]

        # A user's JWT works too.
        status, _, body = http(
            "POST",
            f"{base}/api/v1/auth/token/",
            headers=org,
            body=b'{"username": "olga", "password": "pw-Olga-123"}',
        )
        assert status == 200, body
        access = json.loads(body)["access"]
        status, _, body = http(
            "GET", f"{base}/api/v1/projects", headers={**org, "Authorization": f"Bearer {access}"}
        )
        assert status == 200
        assert json.loads(body)["count"] == 1
