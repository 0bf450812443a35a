"""The Python client for agents, against a real server process (and a mock transport only
for the retry timing, which a live server cannot produce on demand)."""

from __future__ import annotations

import asyncio
import csv
import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from metaqore_client import (
    AsyncMetaQore,
    BlockedError,
    GovernanceBlocked,
    MetaQore,
    NotFound,
    PermissionDenied,
    Refused,
    ValidationError,
)

# django_db: pytest-django sets the test database up only for runs that ask for it.
pytestmark = [pytest.mark.e2e, pytest.mark.django_db]


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

    decisions = coder.request("GET", "governance/decisions", params={"page_size": 5})
    assert decisions["count"] >= 2  # any endpoint: the admission decisions of both declarations
    with pytest.raises(NotFound):
        coder.request("GET", "governance/conflicts/conf_0000000000000000")
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
    assert declared.decision_id.startswith("adm_")
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


def test_blocked_error_carries_the_governance_body(server):
    base, keys = server
    coder = MetaQore(base, keys["coder"], org="client")
    project = coder.projects.create("blocked-error")
    coder.artifacts.declare(project["id"], "code", {"src": "a"})
    with pytest.raises(BlockedError) as raised:
        coder.artifacts.declare(project["id"], "code", {"src": "b"}, version=1, raise_on_block=True)
    error = raised.value
    assert error.status == 409 and error.artifact_id.startswith("art_")
    assert error.conflicts[0]["conflict_type"] == "version_mismatch"
    assert error.remediation == [
        {"conflict_id": error.conflicts[0]["id"], "hint": "declare version 2"}
    ]
    assert "declare version 2" in str(error)
    again = coder.artifacts.declare(project["id"], "code", {"src": "c"}, version=1)
    assert (again.conflicts[0].rule_id, again.conflicts[0].action) == (None, "enforce")
    assert again.body["governance"]["decision_id"] == again.decision_id
    with pytest.raises(BlockedError):
        again.raise_if_blocked()
    updated = coder.artifacts.update(again.artifact_id, data={"src": "d"})
    assert updated.artifact["data"] == {"src": "d"}


class DropFirstResponse(httpx.BaseTransport):
    """Forwards to the server, then loses the first POST's response (as a timeout would)."""

    def __init__(self):
        self.inner = httpx.HTTPTransport()
        self.posts: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.method == "POST":
            self.posts.append(request.headers["Idempotency-Key"])
            if len(self.posts) == 1:
                response.read()
                raise httpx.ReadTimeout("lost on the way back", request=request)
        return response


def test_a_retried_declaration_creates_one_artifact(server):
    base, keys = server
    setup = MetaQore(base, keys["coder"], org="client")
    project = setup.projects.create("idempotent-retry")
    transport = DropFirstResponse()
    coder = MetaQore(base, keys["coder"], org="client", transport=transport)
    declared = coder.artifacts.declare(project["id"], "code", {"src": "once"})
    assert declared.accepted and declared.artifact["version"] == 1
    assert len(transport.posts) == 2 and transport.posts[0] == transport.posts[1]
    assert setup.artifacts.list(project_id=project["id"])["count"] == 1


def test_specialists_training_jobs_and_webhooks(server):
    base, keys = server
    admin = MetaQore(base, keys["admin"], org="client")
    agent = MetaQore(base, keys["coder"], org="client")
    trainer = MetaQore(base, keys["trainer"], org="client")
    skill = admin.specialists.skills.create(
        "log-triage", 200, parent_agent="coder", allowed_teachers=["gpt-4o"]
    )
    assert skill["skill_id"] == "log-triage"
    assert admin.specialists.skills.get("log-triage")["max_specialist_size_mb"] == 200
    project = agent.projects.create("specialists")
    proposal = {
        "skill_id": "log-triage",
        "project_id": project["id"],
        "teachers": ["gpt-4o"],
        "requested_size_mb": 100,
        "parameter_count": 100_000_000,
        "confidence": 0.95,
        "task_isolation_passed": True,
    }
    assert agent.specialists.evaluate(**proposal)["allowed"] is True
    with pytest.raises(Refused) as refused:
        agent.specialists.propose(**{**proposal, "requested_size_mb": 5000})
    assert refused.value.reasons and refused.value.status == 422
    created = agent.specialists.propose(**proposal)
    assert created["governance"]["outcome"] == "accepted"
    job = trainer.specialists.training_jobs.claim_next()
    assert job["id"] == created["training_job"]["id"] and job["status"] == "claimed"
    assert trainer.specialists.training_jobs.claim_next() is None  # 204: nothing queued
    done = trainer.specialists.training_jobs.complete(
        job["id"],
        {
            "functional_unit_test": 0.97,
            "catastrophic_forgetting_drop": 0.004,
            "adversarial_robustness": True,
            "psmp_compatibility": True,
            "golden_set_score": 0.95,
        },
    )
    assert done["status"] == "completed" and done["specialist"]["lifecycle"] == "active"
    assert agent.specialists.get(created["id"])["lifecycle"] == "active"
    assert agent.specialists.list(skill_id="log-triage")["count"] == 1

    policy = admin.governance.policy()
    with pytest.raises(GovernanceBlocked) as stale:
        admin.governance.update_policy(revision=policy["revision"] - 1, max_waiver_days=20)
    assert stale.value.body["code"] == "stale_revision"
    changed = admin.governance.update_policy(revision=policy["revision"], max_waiver_days=20)
    assert changed["revision"] == policy["revision"] + 1 and changed["max_waiver_days"] == 20

    hook = admin.webhooks.create("http://127.0.0.1:9/hook", ["artifact.*"])
    assert hook["secret"] and hook["id"]
    assert admin.webhooks.get(hook["id"])["event_types"] == ["artifact.*"]
    assert admin.webhooks.update(hook["id"], active=False)["active"] is False
    assert admin.webhooks.deliveries(hook["id"])["count"] >= 0
    with pytest.raises(PermissionDenied):
        agent.webhooks.list()
    admin.webhooks.delete(hook["id"])
    with pytest.raises(NotFound):
        admin.webhooks.get(hook["id"])


def test_async_client_covers_the_same_groups(server, tmp_path):
    base, keys = server

    async def scenario():
        async with (
            AsyncMetaQore(base, keys["coder"], org="client") as coder,
            AsyncMetaQore(base, keys["officer"], org="client") as officer,
            AsyncMetaQore(base, keys["studio"], org="client") as studio,
        ):
            project = await coder.projects.create("async-groups")
            task = await coder.tasks.create(project["id"], "write it")
            await coder.artifacts.declare(project["id"], "code", {"src": "a"})
            blocked = await coder.artifacts.declare(project["id"], "code", {"src": "b"}, version=1)
            report = await officer.governance.blocking_report(project["id"])
            (conflict,) = blocked.conflicts
            resolved = await officer.governance.resolve(conflict.id, "override", note="ok")
            decision = await coder.routing.classify(task_type="summarize")
            events = []
            stream = coder.events.stream(["artifact.*"], project_id=project["id"], since=0)
            async for event in stream:
                events.append(event)
                if len(events) == 2:
                    break
            await stream.aclose()
            exported = await studio.audit.export(
                "jsonl", tmp_path / "trail.jsonl", event_type="conflict.*"
            )
            return task, report, resolved, decision, events, exported

    task, report, resolved, decision, events, exported = asyncio.run(scenario())
    lines = (tmp_path / "trail.jsonl").read_text().splitlines()
    assert exported == (tmp_path / "trail.jsonl").stat().st_size > 0
    assert {json.loads(line)["event_type"] for line in lines} >= {"conflict.resolved"}
    assert task["title"] == "write it"
    assert report["blocked_artifacts"] and report["conflicts_total"] == 1
    assert resolved["status"] == "resolved"
    assert decision.sensitivity == "public"
    assert [event.event_type for event in events] == ["artifact.declared"] * 2
    assert events[0].seq < events[1].seq


def test_concurrent_repeats_of_one_idempotent_declaration_create_one_artifact(server):
    """Eight copies of one POST with one Idempotency-Key at once: the first runs, the others
    wait for it on the key's unique index and get its response back."""
    base, keys = server
    project = MetaQore(base, keys["coder"], org="client").projects.create("idempotent-race")
    body = {"project_id": project["id"], "artifact_type": "code", "data": {"src": "race"}}
    headers = {
        "Authorization": f"Bearer {keys['coder']}",
        "X-MetaQore-Org": "client",
        "Idempotency-Key": "race-1",
    }
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(
            pool.map(
                lambda _: httpx.post(f"{base}/api/v1/artifacts", json=body, headers=headers),
                range(8),
            )
        )
    assert {response.status_code for response in responses} == {201}
    assert len({response.json()["id"] for response in responses}) == 1
    replayed = [r for r in responses if r.headers.get("Idempotent-Replayed") == "true"]
    assert len(replayed) == 7
    listed = MetaQore(base, keys["coder"], org="client").artifacts.list(project_id=project["id"])
    assert listed["count"] == 1


def test_rolling_out_a_rule_with_the_client(server):
    base, keys = server
    admin = MetaQore(base, keys["admin"], org="client")
    officer = MetaQore(base, keys["officer"], org="client")
    coder = MetaQore(base, keys["coder"], org="client")
    tester = MetaQore(base, keys["tester"], org="client")
    project = coder.projects.create("rollout")
    coder.artifacts.declare(project["id"], "rollout-line", {"v": 1})
    blocked = tester.artifacts.declare(project["id"], "rollout-line", {"v": 1})
    assert blocked.blocked

    rule = {
        "id": "rollout-dryrun",
        "match": {"conflict_types": ["parallel_creation"], "project_ids": [project["id"]]},
        "action": "dryrun",
    }
    simulated = officer.governance.simulate(rules=[rule], last=50)
    assert simulated["by_rule"]["rollout-dryrun"]["dryrun"] == 1
    assert blocked.decision_id in [e["decision_id"] for e in simulated["examples"]]
    with pytest.raises(PermissionDenied):
        officer.governance.update_policy(rules=[rule])
    policy = admin.governance.update_policy(rules=[rule])
    try:
        assert admin.governance.rules_report()["rules"]["rollout-dryrun"]["matched"] == 0
        decisions = admin.governance.decisions(project=project["id"], outcome="blocked")
        assert [d["id"] for d in decisions["results"]] == [blocked.decision_id]
        revisions = admin.governance.revisions(page_size=1)["results"]
        assert revisions[0]["number"] == policy["revision"]
        with pytest.raises(PermissionDenied):
            coder.governance.grant_waiver({"agents": ["tester"]}, "x", "2999-01-01T00:00:00Z")
        with pytest.raises(ValidationError):  # too far ahead
            officer.governance.grant_waiver({"agents": ["tester"]}, "x", "2999-01-01T00:00:00Z")
    finally:
        admin.governance.restore_revision(policy["revision"] - 1)
    assert admin.governance.policy()["rules"] == []
