"""Security routing: classification, policies x sensitivity x provider kind, vetoes, audit."""

import pytest

from access.actors import SYSTEM
from access.roles import ORG_ADMIN, VIEWER
from compliance.models import AuditEvent
from governance.models import GovernancePolicy, Provider
from governance.provider_routing import allowed_kinds, canonical_policy
from governance.providers import provider_update
from metaqore_site.governed import governed_writes
from projects.sensitivity import classify
from tests.conftest import client_for, make_agent_key, make_user, user_token

CLASSIFY = "/api/v1/governance/routing/classify"
ENFORCE = "/api/v1/governance/routing/enforce"


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, "public"),
        ({"task_type": "write_code"}, "public"),
        ({"task_type": "Sprint PLANNING"}, "internal"),
        ({"task_type": "state_sync"}, "internal"),
        ({"task_type": "governance_review"}, "internal"),
        ({"agent_name": "schema-validator"}, "internal"),
        ({"has_private_data": True}, "sensitive"),
        ({"has_sensitive_data": True, "task_type": "plan"}, "sensitive"),
        ({"is_security_task": True}, "sensitive"),
        ({"is_security_task": True, "has_sensitive_data": True}, "critical"),
        ({"min_sensitivity": "sensitive"}, "sensitive"),
        ({"has_private_data": True, "min_sensitivity": "public"}, "sensitive"),  # never lower
        ({"task_type": "plan", "min_sensitivity": "critical"}, "critical"),
    ],
)
def test_classification_table(kwargs, expected):
    assert classify(**kwargs) == expected


LOCAL_ONLY, BOTH = ("local",), ("local", "cloud")


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (
            "default_local_first",
            {"public": BOTH, "internal": BOTH, "sensitive": LOCAL_ONLY, "critical": LOCAL_ONLY},
        ),
        (
            "enterprise_residency",
            {
                "public": BOTH,
                "internal": LOCAL_ONLY,
                "sensitive": LOCAL_ONLY,
                "critical": LOCAL_ONLY,
            },
        ),
        (
            "compliance_local_only",
            {level: LOCAL_ONLY for level in ("public", "internal", "sensitive", "critical")},
        ),
    ],
)
def test_policy_by_sensitivity_matrix(policy, expected):
    assert {level: allowed_kinds(policy, level) for level in expected} == expected


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("default", "default_local_first"),
        ("local_first", "default_local_first"),
        ("enterprise", "enterprise_residency"),
        ("residency", "enterprise_residency"),
        ("compliance", "compliance_local_only"),
        ("local_only", "compliance_local_only"),
        ("ENTERPRISE_RESIDENCY", "enterprise_residency"),
    ],
)
def test_aliases(alias, canonical):
    assert canonical_policy(alias) == canonical


@pytest.fixture
def agent(org_a):
    return client_for(org_a, key=make_agent_key(org_a, "coder"))


@pytest.fixture
def org_admin(org_a):
    return client_for(org_a, token=user_token(org_a, make_user(org_a, "root-admin", ORG_ADMIN)))


def set_routing(policy: str) -> None:
    current = GovernancePolicy.load()
    current.routing_policy = policy
    current.save()


def test_classify_recommends_available_providers_in_priority_order(agent):
    response = agent.post(CLASSIFY, {"task_type": "write_code"})
    assert response.status_code == 200
    body = response.json()
    assert body["sensitivity"] == "public"
    assert body["allowed_providers"] == ["hmcp_gateway", "ollama", "openrouter"]
    assert body["recommended_provider"] == "hmcp_gateway"
    assert body["policy"] == "default_local_first"
    assert body["decision_id"].startswith("dec_") and body["policy_revision"] >= 1

    sensitive = agent.post(CLASSIFY, {"has_private_data": True}).json()
    assert sensitive["allowed_providers"] == ["hmcp_gateway", "ollama"]


def test_unavailable_providers_are_skipped_and_vetoed(agent):
    provider_update(
        provider=Provider.objects.get(name="hmcp_gateway"),
        actor=SYSTEM,
        changes={"available": False},
    )
    body = agent.post(CLASSIFY, {"has_sensitive_data": True}).json()
    assert body["allowed_providers"] == ["ollama"] and body["recommended_provider"] == "ollama"
    veto = agent.post(ENFORCE, {"provider": "hmcp_gateway"})
    assert veto.status_code == 403
    assert veto.json()["veto"]["policy_violated"] == "provider_unavailable"
    with governed_writes("system:test"):  # a test's shortcut, declared
        Provider.objects.filter(kind="local").update(available=False)
    none_left = agent.post(CLASSIFY, {"is_security_task": True}).json()
    assert none_left["allowed_providers"] == [] and none_left["recommended_provider"] is None


def test_enforce_allows_and_records_a_decision(agent):
    response = agent.post(
        ENFORCE,
        {
            "agent_name": "coder",
            "task_type": "write_code",
            "provider": "openrouter",
            "project_id": "proj_x",
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert body["allowed"] is True and body["provider"] == "openrouter"
    event = AuditEvent.objects.order_by("-seq").first()
    assert event.event_type == "routing.decision"
    assert (event.agent_name, event.provider, event.task_type, event.project_id) == (
        "coder",
        "openrouter",
        "write_code",
        "proj_x",
    )
    assert event.payload["decision_id"] == body["decision_id"]
    assert event.payload["policy_revision"] == body["policy_revision"]


@pytest.mark.parametrize(
    ("policy", "flags", "provider", "allowed"),
    [
        ("default_local_first", {}, "openrouter", True),
        ("default_local_first", {"has_private_data": True}, "openrouter", False),
        ("default_local_first", {"is_security_task": True}, "ollama", True),
        ("enterprise_residency", {}, "openrouter", True),
        ("enterprise_residency", {"task_type": "plan"}, "openrouter", False),
        ("enterprise_residency", {"task_type": "plan"}, "hmcp_gateway", True),
        ("compliance_local_only", {}, "openrouter", False),
        ("compliance_local_only", {}, "ollama", True),
    ],
)
def test_enforce_matrix(agent, policy, flags, provider, allowed):
    set_routing(policy)
    response = agent.post(ENFORCE, {"provider": provider, **flags})
    assert response.json()["allowed"] is allowed
    assert response.status_code == (200 if allowed else 403)
    if not allowed:
        veto = response.json()["veto"]
        assert veto["policy_violated"] == policy and veto["severity"] == "critical"
        assert veto["provider"] == provider
        event = AuditEvent.objects.order_by("-seq").first()
        assert event.event_type == "routing.veto"
        assert event.payload["policy_violated"] == policy and event.provider == provider


def test_unknown_provider_is_vetoed_never_allowed(agent):
    response = agent.post(ENFORCE, {"provider": "shady-cloud"})
    assert response.status_code == 403
    assert response.json()["veto"]["policy_violated"] == "unknown_provider"


def test_bad_routing_input_is_400(agent):
    assert agent.post(CLASSIFY, {"min_sensitivity": "secret"}).status_code == 400
    assert agent.post(CLASSIFY, {"has_private_data": "perhaps"}).status_code == 400
    assert agent.post(ENFORCE, {"task_type": "x"}).status_code == 400  # provider is required


def test_policy_routing_field_aliases_and_audit(org_admin):
    response = org_admin.patch("/api/v1/governance/policy", {"routing_policy": "local_only"})
    assert response.status_code == 200
    assert response.json()["routing_policy"] == "compliance_local_only"
    event = AuditEvent.objects.order_by("-seq").first()
    assert event.event_type == "policy.changed"
    assert event.payload["before"] == {"routing_policy": "default_local_first"}
    assert event.payload["after"] == {"routing_policy": "compliance_local_only"}
    bad = org_admin.patch("/api/v1/governance/policy", {"routing_policy": "anything_goes"})
    assert bad.status_code == 400
    assert "compliance_local_only" in str(bad.json()["routing_policy"])


def test_policy_revision_is_reported_by_decisions(org_admin, agent):
    before = agent.post(CLASSIFY, {}).json()["policy_revision"]
    org_admin.patch("/api/v1/governance/policy", {"routing_policy": "enterprise"})
    assert agent.post(CLASSIFY, {}).json()["policy_revision"] == before + 1


def test_provider_management_permissions(org_a, agent, org_admin):
    privileged = client_for(org_a, key=make_agent_key(org_a, "studio", privileged=True))
    viewer = client_for(org_a, token=user_token(org_a, make_user(org_a, "vic", VIEWER)))
    new = {"name": "azure-eu", "kind": "cloud", "priority": 60}
    assert agent.get("/api/v1/governance/providers").status_code == 200
    assert agent.post("/api/v1/governance/providers", new).status_code == 403
    assert viewer.post("/api/v1/governance/providers", new).status_code == 403
    assert org_admin.post("/api/v1/governance/providers", new).status_code == 201
    outage = privileged.patch(
        "/api/v1/governance/providers/ollama", {"available": False, "latency_ms": 9000}
    )
    assert outage.status_code == 200 and outage.json()["available"] is False
    event = AuditEvent.objects.order_by("-seq").first()
    assert (event.event_type, event.actor, event.provider) == (
        "provider.updated",
        "agent:studio",
        "ollama",
    )
    assert event.payload["after"] == {"available": False, "latency_ms": 9000}
    assert (
        org_admin.post("/api/v1/governance/providers", {"name": "x", "kind": "moon"}).status_code
        == 400
    )
    assert org_admin.delete("/api/v1/governance/providers/azure-eu").status_code == 204
    assert agent.get("/api/v1/governance/providers/azure-eu").status_code == 404


def test_audit_filters_find_routing_events(org_a, agent, org_admin):
    agent.post(ENFORCE, {"agent_name": "coder", "task_type": "summarize", "provider": "ollama"})
    agent.post(ENFORCE, {"agent_name": "coder", "task_type": "summarize", "provider": "nope"})
    base = "/api/v1/governance/compliance/audit"
    by_provider = org_admin.get(f"{base}?provider=ollama").json()["results"]
    assert by_provider and all(e["provider"] == "ollama" for e in by_provider)
    vetoes = org_admin.get(f"{base}?event_type=routing.veto&task_type=summarize").json()["results"]
    assert [e["provider"] for e in vetoes] == ["nope"]
    assert org_admin.get(f"{base}?agent_name=coder&event_type=routing.*").json()["results"]


def test_task_sensitivity_is_computed_and_filterable(agent, org_a):
    project = agent.post("/api/v1/projects", {"name": "p"}).json()["id"]
    plain = agent.post("/api/v1/tasks", {"project_id": project, "title": "write docs"}).json()
    assert plain["sensitivity"] == "public"
    private = agent.post(
        "/api/v1/tasks",
        {"project_id": project, "title": "clean data", "metadata": {"has_private_data": True}},
    ).json()
    assert private["sensitivity"] == "sensitive"
    raised = agent.post(
        "/api/v1/tasks", {"project_id": project, "title": "docs", "sensitivity": "critical"}
    ).json()
    assert raised["sensitivity"] == "critical"
    lowered = agent.patch(f"/api/v1/tasks/{private['id']}", {"sensitivity": "public"}).json()
    assert lowered["sensitivity"] == "sensitive"  # never lower
    listed = agent.get("/api/v1/tasks?sensitivity=sensitive").json()["results"]
    assert [t["id"] for t in listed] == [private["id"]]
