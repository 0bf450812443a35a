"""What one request costs (issue #24): the SQL statements of the health check, an authenticated
read and a governed declaration, pinned statement by statement, and the round trips to Redis
for rate limiting (one per request).

These are whole HTTP requests with the resolution caches off (tests never commit, so nothing
would invalidate them); tests/test_resolution_cache.py pins the cached paths. The declaration
service's own pins stay where they were and agree with this one: its count does not grow with
the project (tests/artifacts/test_audit_and_cost.py) and the decision log costs one INSERT,
the waivers read only on a conflict (tests/governance/test_decision_cost.py)."""

from __future__ import annotations

import re

import pytest
import redis
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from tests.conftest import client_for, make_agent_key
from tests.redis_cache import use_redis_cache

TABLE = re.compile(r'(?:FROM|INTO|UPDATE)\s+"?([a-z_]+)"?', re.IGNORECASE)


def label(sql: str) -> str:
    """``SELECT tenants_domain``, ``SET search_path``, ``INSERT artifacts_artifact``, …"""
    sql = " ".join(sql.split())
    verb = sql.split(" ", 1)[0].upper()
    if verb in ("SET", "SAVEPOINT", "RELEASE") or sql == "SELECT 1":
        return " ".join(sql.split(" ", 2)[:2]) if verb != "SAVEPOINT" else "SAVEPOINT"
    if verb == "WITH":
        return "WITH " + TABLE.search(sql).group(1)
    if "pg_advisory_xact_lock" in sql:
        return "SELECT pg_advisory_xact_lock"
    found = TABLE.search(sql)
    return f"{verb} {found.group(1) if found else '?'}"


def statements(client: APIClient, method: str, path: str, body=None) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = getattr(client, method)(path, body, format="json")
    assert response.status_code in (200, 201), response.content
    return [label(query["sql"]) for query in captured]


@pytest.fixture
def agent(org_a) -> APIClient:
    client = client_for(org_a, key=make_agent_key(org_a, "pinned"))
    client.get("/api/v1/health")  # the key's last_used_at written: not part of a request's cost
    return client


@pytest.fixture
def project_id(agent) -> str:
    return agent.post("/api/v1/projects", {"name": "small"}).json()["id"]


def test_health_statements(org_a, agent):
    assert statements(client_for(org_a), "get", "/api/v1/health") == [
        "SET search_path",
        "SELECT tenants_domain",
        "SET search_path",
        "SELECT 1",
        "SELECT governance_governancepolicy",
    ]


def test_authenticated_read_statements(agent, project_id):
    assert statements(agent, "get", f"/api/v1/projects/{project_id}") == [
        "SET search_path",
        "SELECT tenants_domain",
        "SET search_path",
        "SELECT governance_agentkey",
        "SELECT projects_project",
        "SELECT governance_governancepolicy",
    ]


def test_declaration_statements(agent, project_id):
    body = {"project_id": project_id, "artifact_type": "code", "data": {"x": 1}}
    # The test runs inside a transaction, so the declaration's own is a savepoint here (BEGIN
    # and COMMIT in production).
    assert statements(agent, "post", "/api/v1/artifacts", body) == [
        "SET search_path",
        "SELECT tenants_domain",
        "SET search_path",
        "SELECT governance_agentkey",
        "SELECT projects_project",
        "SAVEPOINT",
        "SELECT pg_advisory_xact_lock",
        "SELECT governance_governancepolicy",
        "SELECT artifacts_artifact",  # the next version
        "SELECT artifacts_artifact",  # parallel creation: the line's open versions
        "INSERT artifacts_artifact",
        "INSERT governance_admissiondecision",
        # Last, the audit event (in the same transaction): locking the chain's head holds
        # every other write of the org until commit, so nothing else follows it. The event's
        # insert reads the webhooks it goes to in the same statement (one round trip fewer
        # while the head is locked).
        "SELECT compliance_auditchainhead",
        "WITH compliance_auditevent",
        "RELEASE SAVEPOINT",
    ]


class CountingRedis:
    """Counts the commands this process sends to Redis (the server is real)."""

    def __init__(self, monkeypatch) -> None:
        self.commands: list[str] = []
        original = redis.Redis.execute_command

        def execute_command(client, *args, **options):
            self.commands.append(str(args[0]).upper())
            return original(client, *args, **options)

        monkeypatch.setattr(redis.Redis, "execute_command", execute_command)


@pytest.mark.parametrize("kind", ["health", "read", "declare", "bad key", "login"])
def test_rate_limiting_is_one_redis_round_trip(org_a, settings, monkeypatch, kind):
    use_redis_cache(settings)
    settings.METAQORE_ENABLE_RATE_LIMIT = True
    client = client_for(org_a, key=make_agent_key(org_a, "counted"))
    project = client.post("/api/v1/projects", {"name": "p"}).json()["id"]
    send = {
        "health": lambda: client_for(org_a).get("/api/v1/health"),
        "read": lambda: client.get(f"/api/v1/projects/{project}"),
        "declare": lambda: client.post(
            "/api/v1/artifacts", {"project_id": project, "artifact_type": "t", "data": {}}
        ),
        "bad key": lambda: client_for(org_a, key="mq_" + "x" * 40).get("/api/v1/projects"),
        "login": lambda: client_for(org_a).post(
            "/api/v1/auth/token/", {"username": "nobody", "password": "wrong"}
        ),
    }[kind]
    send()  # the script is loaded once per process and server
    counting = CountingRedis(monkeypatch)
    response = send()
    assert response.status_code in (200, 201, 401)
    assert "X-RateLimit-Limit" in response
    if kind in ("bad key", "login"):
        # The rate limits are one EVALSHA; what follows throttles the auth.failed audit events
        # and counts the account's failures (access.auth_failures, access.lockout).
        assert counting.commands[0] == "EVALSHA" and counting.commands.count("EVALSHA") == 1
    else:
        assert counting.commands == ["EVALSHA"]


def test_a_detail_lookup_applies_its_filters_when_sent(agent, project_id):
    """Without query parameters a detail lookup skips the inert filter backends (cost); with
    them it is filtered as DRF does (a project not matching ``status`` is a 404)."""
    assert agent.get(f"/api/v1/projects/{project_id}").status_code == 200
    assert agent.get(f"/api/v1/projects/{project_id}?status=initialized").status_code == 200
    assert agent.get(f"/api/v1/projects/{project_id}?status=completed").status_code == 404
    assert agent.get(f"/api/v1/projects/{project_id}?status=nonsense").status_code == 400
