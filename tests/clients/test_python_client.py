"""The Python client for agents, against a real server process (and a mock transport only
for the retry timing, which a live server cannot produce on demand)."""

from __future__ import annotations

import asyncio
import csv

import httpx
import pytest
from django.db import connection

from access.keys import agent_key_create
from metaqore_client import (
    AsyncMetaQore,
    MetaQore,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from tenants.services import organization_create
from tests.processes import database_url, running_server, subprocess_env

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        organization = organization_create(slug="client", name="Client", domain="client.localhost")
        connection.set_tenant(organization)
        keys = {
            name: agent_key_create(agent_name=name, privileged=name == "studio").key
            for name in ("coder", "tester", "studio")
        }
        connection.set_schema_to_public()
        env = subprocess_env(
            DATABASE_URL=database_url(connection.settings_dict), METAQORE_ENABLE_RATE_LIMIT="false"
        )
        try:
            with running_server(env) as base:
                yield base, keys
        finally:
            organization.delete(force_drop=True)


def test_agent_loop_declare_blocked_then_resolved(server, tmp_path):
    base, keys = server
    coder = MetaQore(base, keys["coder"], org="client")
    tester = MetaQore(base, keys["tester"], org="client")
    project = coder.projects.create("client-demo")
    assert project["id"].startswith("proj_")
    assert coder.projects.get(project["id"])["name"] == "client-demo"

    first = coder.artifacts.declare(project["id"], "code", {"src": "a"}, file_paths=["a.py"])
    assert first.outcome == "accepted" and first.accepted and first.artifact["version"] == 1

    clean = coder.artifacts.update(first.artifact_id, data={"src": "a2"})
    assert clean.outcome == "accepted" and clean.artifact["data"] == {"src": "a2"}
    circular = coder.artifacts.update(first.artifact_id, depends_on=[first.artifact_id])
    assert circular.blocked  # 409, an outcome like a blocked declaration
    assert [c.conflict_type for c in circular.conflicts] == ["circular_dependency"]
    assert not coder.artifacts.update(first.artifact_id, depends_on=[]).blocked

    blocked = tester.artifacts.declare(project["id"], "code", {"src": "b"})
    assert blocked.blocked and blocked.artifact["is_blocked"]
    (conflict,) = blocked.conflicts
    assert conflict.conflict_type == "parallel_creation" and conflict.severity == "high"
    assert blocked.remediation[0]["conflict_id"] == conflict.id

    with pytest.raises(PermissionDenied):  # an agent may not override HIGH
        tester.governance.resolve(conflict.id, "override")
    assert tester.governance.resolve(conflict.id, "merge", note="merged")["status"] == "resolved"
    assert tester.artifacts.transition(blocked.artifact_id, "active")["state"] == "active"

    with pytest.raises(NotFound):
        coder.artifacts.get("art_0000000000000000")
    with pytest.raises(ValidationError) as bad:
        coder.projects.create("")
    assert "name" in bad.value.body


def test_routing_veto_is_a_decision_and_audit_export_streams(server, tmp_path):
    base, keys = server
    coder = MetaQore(base, keys["coder"], org="client")
    allowed = coder.routing.enforce("openrouter", task_type="summarize")
    assert allowed.allowed and allowed.sensitivity == "public"
    vetoed = coder.routing.enforce("openrouter", has_private_data=True)
    assert not vetoed.allowed and vetoed.veto["policy_violated"] == "default_local_first"

    studio = MetaQore(base, keys["studio"], org="client")
    target = tmp_path / "trail.csv"
    written = studio.audit.export("csv", target, event_type="routing.*")
    assert written == target.stat().st_size > 0
    rows = list(csv.DictReader(target.open()))
    assert {row["event_type"] for row in rows} == {"routing.decision", "routing.veto"}
    assert studio.audit.verify()["ok"] is True
    with pytest.raises(PermissionDenied):
        coder.audit.export("csv", tmp_path / "no.csv")


def test_async_client(server):
    base, keys = server

    async def scenario():
        async with AsyncMetaQore(base, keys["coder"], org="client") as mq:
            project = await mq.projects.create("async-demo")
            declared = await mq.artifacts.declare(project["id"], "plan", {"steps": 3})
            listed = await mq.artifacts.list(project_id=project["id"])
            return declared, listed

    declared, listed = asyncio.run(scenario())
    assert declared.outcome == "accepted"
    assert listed["count"] == 1 and listed["results"][0]["id"] == declared.artifact_id


def test_retries_429_and_503_honouring_retry_after():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if len(calls) == 1:
            return httpx.Response(429, headers={"Retry-After": "0"}, json={"detail": "slow"})
        if len(calls) == 2:
            return httpx.Response(503, headers={"Retry-After": "0"}, json={"status": "error"})
        return httpx.Response(200, json={"count": 0, "results": []})

    client = MetaQore("http://mq.test", "mq_x", transport=httpx.MockTransport(handler))
    assert client.projects.list() == {"count": 0, "results": []}
    assert calls == ["/api/v1/projects"] * 3
