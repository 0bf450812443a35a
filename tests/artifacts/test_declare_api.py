"""Declaring artifacts through the API: outcomes per mode and per client."""

import pytest

from artifacts.models import Artifact, Conflict
from tests.artifacts.conftest import declare, set_mode


def test_clean_declaration_is_accepted(coder, project):
    response = declare(coder, project, data={"src": "print(1)"}, file_paths=["./src/a.py"])
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["id"].startswith("art_")
    assert body["version"] == 1 and body["state"] == "draft" and body["is_blocked"] is False
    assert body["created_by"] == "agent:coder"
    assert body["file_paths"] == ["src/a.py"]
    assert len(body["content_hash"]) == 64
    decision_id = body["governance"].pop("decision_id")
    assert decision_id.startswith("adm_")
    assert body["governance"] == {
        "outcome": "accepted",
        "mode": "strict",
        "conflicts": [],
        "remediation": [],
    }
    assert response["X-MetaQore-Governance-Mode"] == "strict"


def test_server_assigns_next_version_per_line(coder, project):
    assert declare(coder, project).json()["version"] == 1
    assert declare(coder, project).json()["version"] == 2
    assert declare(coder, project, artifact_type="plan").json()["version"] == 1
    assert declare(coder, project, version=3).json()["version"] == 3


def test_created_by_comes_from_the_credential_not_the_body(coder, orchestrator, project):
    assert declare(coder, project, created_by="agent:someone").json()["created_by"] == "agent:coder"
    on_behalf = declare(orchestrator, project, artifact_type="plan", created_by="planner")
    assert on_behalf.json()["created_by"] == "agent:planner"


def test_strict_mode_blocks_and_stores_the_artifact(coder, project):
    declare(coder, project)
    response = declare(coder, project, version=1)  # stale: next is 2
    assert response.status_code == 409
    body = response.json()
    assert body["governance"]["outcome"] == "blocked"
    assert body["is_blocked"] is True and body["version"] == 2
    (conflict,) = body["governance"]["conflicts"]
    assert conflict["conflict_type"] == "version_mismatch"
    assert conflict["severity"] == "medium" and conflict["status"] == "open"
    assert conflict["details"] == {"declared_version": 1, "expected_version": 2}
    assert body["governance"]["remediation"] == [
        {"conflict_id": conflict["id"], "hint": "declare version 2"}
    ]
    stored = Artifact.objects.get(pk=body["id"])
    assert stored.is_blocked and stored.state == "draft"


def test_privileged_client_auto_resolves_low_and_medium(orchestrator, project):
    declare(orchestrator, project)
    response = declare(orchestrator, project, version=1)
    assert response.status_code == 201
    body = response.json()
    assert body["governance"]["outcome"] == "auto_resolved"
    (conflict,) = body["governance"]["conflicts"]
    assert conflict["status"] == "resolved"
    assert conflict["resolution_strategy"] == "override"
    assert conflict["resolved_by"] == "agent:studio"
    assert response["X-MetaQore-Privileged"] == "true"


def test_privileged_client_is_still_blocked_by_high_conflicts(orchestrator, coder, project):
    declare(coder, project)
    response = declare(orchestrator, project)  # parallel_creation: high
    assert response.status_code == 409
    assert response.json()["governance"]["conflicts"][0]["conflict_type"] == "parallel_creation"


def test_adaptive_mode_auto_resolves_for_everyone_but_blocks_high(coder, tester, project):
    set_mode("adaptive")
    declare(coder, project)
    stale = declare(coder, project, version=1)
    assert stale.status_code == 201
    assert stale.json()["governance"]["outcome"] == "auto_resolved"
    assert stale.json()["governance"]["conflicts"][0]["resolved_by"] == "policy:adaptive"
    parallel = declare(tester, project)
    assert parallel.status_code == 409
    assert parallel["X-MetaQore-Governance-Mode"] == "adaptive"


def test_playground_records_but_never_blocks(coder, tester, project):
    set_mode("playground")
    declare(coder, project)
    response = declare(tester, project)
    assert response.status_code == 201
    body = response.json()
    assert body["governance"]["outcome"] == "accepted_with_warnings"
    assert body["is_blocked"] is False
    assert body["governance"]["conflicts"][0]["status"] == "open"


@pytest.mark.parametrize("value", ["true", "1", "yes", "terraqore"])
def test_privilege_header_values_grant_nothing(coder, project, value, settings):
    settings.METAQORE_PRIVILEGED_TOKEN = ""
    declare(coder, project)
    response = declare(coder, project, version=1, HTTP_X_METAQORE_PRIVILEGED=value)
    assert response.status_code == 409
    assert response["X-MetaQore-Privileged"] == "ignored"


def test_privilege_header_with_configured_token(coder, project, settings):
    settings.METAQORE_PRIVILEGED_TOKEN = "s3cret-token-value"
    declare(coder, project)
    wrong = declare(coder, project, version=1, HTTP_X_METAQORE_PRIVILEGED="s3cret-token-valuX")
    assert wrong.status_code == 409
    right = declare(coder, project, version=1, HTTP_X_METAQORE_PRIVILEGED="s3cret-token-value")
    assert right.status_code == 201
    assert right["X-MetaQore-Privileged"] == "true"


@pytest.mark.parametrize(
    "fields",
    [
        {"data": "not an object"},
        {"data": None},
        {"version": 0},
        {"version": "two"},
        {"artifact_type": "x" * 101},
        {"file_paths": "src/a.py"},
        {"file_paths": ["/etc/passwd"]},
        {"file_paths": ["../outside.py"]},
        {"requirements": {"django": "not a spec"}},
        {"requirements": ["django"]},
        {"depends_on": ["proj_123"]},
        {"project_id": "proj_doesnotexist"},
    ],
)
def test_bad_declarations_are_400_and_store_nothing(coder, project, fields):
    response = declare(coder, project, **fields)
    assert response.status_code == 400, response.content
    assert Artifact.objects.count() == 0
    assert Conflict.objects.count() == 0


def test_missing_data_is_400(coder, project):
    response = coder.post("/api/v1/artifacts", {"project_id": project.id, "artifact_type": "code"})
    assert response.status_code == 400
    assert "data" in response.json()


def test_declaration_body_is_the_artifact_serializers_representation(coder, project):
    """Declarations render the artifact from a serializer kept per thread: the body is exactly
    what a fresh ArtifactSerializer gives, for one artifact after another."""
    from concurrent.futures import ThreadPoolExecutor

    from artifacts.api.serializers import ArtifactSerializer, ConflictSerializer
    from metaqore_site.api.serializers import render

    first = declare(coder, project, data={"a": 1}, file_paths=["a.py"], requirements={"x": ">=1"})
    second = declare(coder, project, artifact_type="plan", metadata={"k": "v"}, depends_on=[])
    for response in (first, second):
        artifact = Artifact.objects.get(pk=response.json()["id"])
        expected = dict(ArtifactSerializer(artifact).data)
        assert render(ArtifactSerializer, artifact) == expected
        assert {k: v for k, v in response.json().items() if k != "governance"} == expected
    # Conflicts render as a fresh ConflictSerializer renders them.
    colliding = declare(coder, project, artifact_type="other", file_paths=["a.py"])
    conflicts = Conflict.objects.filter(artifact_id=colliding.json()["id"]).order_by("created_at")
    assert conflicts
    expected_conflicts = [dict(c) for c in ConflictSerializer(conflicts, many=True).data]
    assert colliding.json()["governance"]["conflicts"] == expected_conflicts
    # Another thread gets its own serializer and the same answer.
    artifact = Artifact.objects.get(pk=first.json()["id"])
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(render, ArtifactSerializer, artifact).result() == dict(
            ArtifactSerializer(artifact).data
        )
