"""The privileged /internal API."""

from access.actors import Actor
from artifacts.models import Artifact, Conflict
from artifacts.services import artifact_declare
from projects.services import project_create
from tests.conftest import client_for, make_agent_key


def test_auto_resolve_resolves_only_open_low_and_medium(org_a):
    coder, tester = Actor("agent", "coder"), Actor("agent", "tester")
    project = project_create(actor=coder, name="p")
    artifact_declare(actor=coder, project=project, artifact_type="plan", data={})
    stale = artifact_declare(actor=coder, project=project, artifact_type="plan", data={}, version=1)
    artifact_declare(actor=coder, project=project, artifact_type="code", data={})
    parallel = artifact_declare(actor=tester, project=project, artifact_type="code", data={})

    studio = client_for(org_a, key=make_agent_key(org_a, "studio", privileged=True))
    response = studio.post("/api/v1/internal/conflicts/auto-resolve", {"project_id": project.id})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    (resolved,) = body["resolved"]
    assert resolved["id"] == stale.conflicts[0].id
    assert (
        resolved["resolution_strategy"] == "override" and resolved["resolved_by"] == "agent:studio"
    )
    assert Artifact.objects.get(pk=stale.artifact.id).is_blocked is False
    assert Conflict.objects.get(pk=parallel.conflicts[0].id).status == "open"  # HIGH stays
    missing = studio.post("/api/v1/internal/conflicts/auto-resolve", {"project_id": "proj_x"})
    assert missing.status_code == 404
    assert studio.post("/api/v1/internal/conflicts/auto-resolve", {}).status_code == 400


def test_stats(org_a):
    coder, tester = Actor("agent", "coder"), Actor("agent", "tester")
    project = project_create(actor=coder, name="p")
    artifact_declare(actor=coder, project=project, artifact_type="code", data={})
    artifact_declare(actor=tester, project=project, artifact_type="code", data={})
    studio = client_for(org_a, key=make_agent_key(org_a, "studio", privileged=True))
    studio.post("/api/v1/governance/routing/enforce", {"provider": "nope"})
    stats = studio.get("/api/v1/internal/stats").json()
    assert stats["projects"] == 1
    assert stats["artifacts_by_state"] == {"draft": 2, "active": 0, "archived": 0}
    assert stats["blocked_artifacts"] == 1
    assert stats["open_conflicts_by_severity"] == {"low": 0, "medium": 0, "high": 1, "critical": 0}
    assert stats["vetoes_by_policy"] == {"unknown_provider": 1}
    assert stats["events_last_24h"] >= 4


def test_privileged_header_token_reaches_internal_only_when_configured(org_a, settings):
    client = client_for(org_a, key=make_agent_key(org_a, "plain"))
    settings.METAQORE_PRIVILEGED_TOKEN = ""
    assert (
        client.get("/api/v1/internal/stats", HTTP_X_METAQORE_PRIVILEGED="true").status_code == 403
    )
    settings.METAQORE_PRIVILEGED_TOKEN = "a-long-shared-secret"
    ok = client.get("/api/v1/internal/stats", HTTP_X_METAQORE_PRIVILEGED="a-long-shared-secret")
    assert ok.status_code == 200
