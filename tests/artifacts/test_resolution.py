"""Resolving conflicts: strategies, separation of duties, the blocking report, the policy."""

import pytest

from access.actors import SYSTEM
from artifacts.models import Artifact, Conflict
from governance.models import GovernancePolicy
from projects.services import project_create
from tests.artifacts.conftest import declare


def resolve(client, conflict_id, strategy, note="checked"):
    return client.post(
        f"/api/v1/governance/conflicts/{conflict_id}/resolve",
        {"strategy": strategy, "note": note},
    )


@pytest.fixture
def blocked_by_parallel(coder, tester, project):
    """tester's artifact, blocked by a HIGH parallel_creation conflict."""
    declare(coder, project)
    body = declare(tester, project).json()
    return body["id"], body["governance"]["conflicts"][0]["id"]


@pytest.fixture
def blocked_by_version(coder, project):
    """coder's artifact, blocked by a MEDIUM version_mismatch conflict."""
    declare(coder, project, artifact_type="plan")
    body = declare(coder, project, artifact_type="plan", version=1).json()
    return body["id"], body["governance"]["conflicts"][0]["id"]


def test_officer_override_unblocks_and_artifact_can_activate(officer, tester, blocked_by_parallel):
    artifact_id, conflict_id = blocked_by_parallel
    response = resolve(officer, conflict_id, "override", "reviewed: independent work")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "resolved" and body["resolution_strategy"] == "override"
    assert body["resolved_by"] == "user:olivia" and body["resolved_at"]
    assert Artifact.objects.get(pk=artifact_id).is_blocked is False
    activated = tester.post(f"/api/v1/artifacts/{artifact_id}/transition", {"to": "active"})
    assert activated.status_code == 200


def test_agent_cannot_override_high_conflict(tester, blocked_by_parallel):
    artifact_id, conflict_id = blocked_by_parallel
    response = resolve(tester, conflict_id, "override")
    assert response.status_code == 403
    assert response.json()["code"] == "separation_of_duties"
    assert Conflict.objects.get(pk=conflict_id).status == "open"
    assert Artifact.objects.get(pk=artifact_id).is_blocked is True


def test_privileged_agent_cannot_override_high_either(orchestrator, blocked_by_parallel):
    _, conflict_id = blocked_by_parallel
    assert resolve(orchestrator, conflict_id, "override").status_code == 403


def test_agent_may_merge_a_high_conflict(tester, blocked_by_parallel):
    artifact_id, conflict_id = blocked_by_parallel
    assert resolve(tester, conflict_id, "merge").status_code == 200
    assert Artifact.objects.get(pk=artifact_id).is_blocked is False


def test_agent_may_override_a_medium_conflict(coder, blocked_by_version):
    artifact_id, conflict_id = blocked_by_version
    assert resolve(coder, conflict_id, "override").status_code == 200
    assert Artifact.objects.get(pk=artifact_id).is_blocked is False


def test_retry_archives_the_blocked_artifact(coder, blocked_by_version):
    artifact_id, conflict_id = blocked_by_version
    assert resolve(coder, conflict_id, "retry").json()["status"] == "resolved"
    assert Artifact.objects.get(pk=artifact_id).state == "archived"


def test_escalate_keeps_blocking_until_a_human_resolves(officer, tester, blocked_by_parallel):
    artifact_id, conflict_id = blocked_by_parallel
    assert resolve(tester, conflict_id, "escalate").json()["status"] == "escalated"
    assert Artifact.objects.get(pk=artifact_id).is_blocked is True
    assert resolve(tester, conflict_id, "escalate").status_code == 409
    assert resolve(officer, conflict_id, "override").status_code == 200
    assert Artifact.objects.get(pk=artifact_id).is_blocked is False


def test_artifact_stays_blocked_while_another_conflict_is_open(coder, tester, officer, project):
    declare(coder, project, artifact_type="api", requirements={"django": "<5"})
    declare(coder, project)
    body = declare(tester, project, requirements={"django": ">=5.2"}).json()
    conflicts = {c["conflict_type"]: c["id"] for c in body["governance"]["conflicts"]}
    assert set(conflicts) == {"parallel_creation", "dependency_version_conflict"}
    resolve(officer, conflicts["parallel_creation"], "override")
    assert Artifact.objects.get(pk=body["id"]).is_blocked is True
    resolve(officer, conflicts["dependency_version_conflict"], "override")
    assert Artifact.objects.get(pk=body["id"]).is_blocked is False


def test_already_resolved_unknown_strategy_unknown_id(officer, blocked_by_parallel):
    _, conflict_id = blocked_by_parallel
    assert resolve(officer, conflict_id, "bribe").status_code == 400
    assert resolve(officer, conflict_id, "merge").status_code == 200
    assert resolve(officer, conflict_id, "merge").status_code == 409
    assert resolve(officer, "conf_0000000000000000", "merge").status_code == 404


def test_viewer_cannot_resolve(viewer, blocked_by_parallel):
    _, conflict_id = blocked_by_parallel
    assert resolve(viewer, conflict_id, "merge").status_code == 403


def test_conflict_list_filters(coder, officer, blocked_by_parallel, blocked_by_version, project):
    _, high = blocked_by_parallel
    _, medium = blocked_by_version

    def ids(query):
        response = coder.get(f"/api/v1/governance/conflicts?{query}")
        assert response.status_code == 200, response.content
        return {c["id"] for c in response.json()["results"]}

    assert ids(f"project_id={project.id}") >= {high, medium}
    assert ids("severity=high") == {high}
    assert ids("conflict_type=version_mismatch") == {medium}
    resolve(officer, high, "override")
    assert high in ids("resolved=true") and high not in ids("resolved=false")
    assert ids("status=open") == {medium}
    assert coder.get(f"/api/v1/governance/conflicts/{medium}").json()["severity"] == "medium"
    assert coder.get("/api/v1/governance/conflicts?severity=huge").status_code == 400


def test_blocking_report(coder, blocked_by_parallel, blocked_by_version, project):
    response = coder.get(f"/api/v1/governance/blocking-report?project_id={project.id}")
    assert response.status_code == 200
    report = response.json()
    assert set(report) == {
        "project_id",
        "blocked_artifacts",
        "conflicts",
        "conflicts_total",
        "remediation",
        "counts",
        "generated_at",
    }
    assert set(report["blocked_artifacts"]) == {blocked_by_parallel[0], blocked_by_version[0]}
    assert report["conflicts_total"] == len(report["conflicts"]) == 2
    assert report["counts"] == {"low": 0, "medium": 1, "high": 1, "critical": 0}
    assert {r["conflict_id"] for r in report["remediation"]} == {
        blocked_by_parallel[1],
        blocked_by_version[1],
    }
    assert coder.get("/api/v1/governance/blocking-report?project_id=proj_nope").status_code == 404

    # The most recent first, as many as asked; the totals still cover every conflict.
    limited = coder.get(f"/api/v1/governance/blocking-report?project_id={project.id}&limit=1")
    assert [c["id"] for c in limited.json()["conflicts"]] == [report["conflicts"][0]["id"]]
    assert limited.json()["conflicts_total"] == 2
    assert [r["conflict_id"] for r in limited.json()["remediation"]] == [
        report["conflicts"][0]["id"]
    ]
    for bad in ("0", "501", "x"):
        response = coder.get(
            f"/api/v1/governance/blocking-report?project_id={project.id}&limit={bad}"
        )
        assert response.status_code == 400 and "limit" in response.json()
    # Without project_id, the report covers the whole org (test_org_wide_blocking_report).
    assert "by_project" in coder.get("/api/v1/governance/blocking-report").json()


def test_policy_read_by_anyone_written_by_org_admin_only(coder, orchestrator, officer, admin_user):
    assert coder.get("/api/v1/governance/policy").json()["mode"] == "strict"
    assert coder.patch("/api/v1/governance/policy", {"mode": "adaptive"}).status_code == 403
    assert orchestrator.patch("/api/v1/governance/policy", {"mode": "adaptive"}).status_code == 403
    assert officer.patch("/api/v1/governance/policy", {"mode": "adaptive"}).status_code == 403
    assert admin_user.patch("/api/v1/governance/policy", {"mode": "chaos"}).status_code == 400
    response = admin_user.patch("/api/v1/governance/policy", {"mode": "adaptive"})
    assert response.status_code == 200
    assert response.json()["mode"] == "adaptive" and response.json()["revision"] == 2
    assert response["X-MetaQore-Governance-Mode"] == "adaptive"
    assert GovernancePolicy.load().mode == "adaptive"


def test_org_wide_blocking_report(coder, tester, blocked_by_parallel, blocked_by_version, project):
    """Without project_id: every project, with by_project (the most blocked first)."""
    quiet = project_create(actor=SYSTEM, name="Quiet")  # nothing blocked: not listed
    other_project = project_create(actor=SYSTEM, name="Search")
    other = other_project.id
    declare(coder, other_project, artifact_type="design")
    declare(tester, other_project, artifact_type="design")  # one HIGH, one blocked
    response = coder.get("/api/v1/governance/blocking-report")
    assert response.status_code == 200, response.json()
    report = response.json()
    assert report["project_id"] is None
    assert report["counts"] == {"low": 0, "medium": 1, "high": 2, "critical": 0}
    assert report["conflicts_total"] == 3 and len(report["blocked_artifacts"]) == 3
    assert report["projects_total"] == 2
    assert report["by_project"] == [
        {
            "project_id": project.id,
            "name": project.name,
            "blocked": 2,
            "counts": {"low": 0, "medium": 1, "high": 1, "critical": 0},
        },
        {
            "project_id": other,
            "name": "Search",
            "blocked": 1,
            "counts": {"low": 0, "medium": 0, "high": 1, "critical": 0},
        },
    ]
    assert quiet.id not in {row["project_id"] for row in report["by_project"]}
    assert len(report["remediation"]) == 3
    refused = coder.get("/api/v1/governance/blocking-report?limit=0")
    assert refused.status_code == 400, refused.content[:300]
