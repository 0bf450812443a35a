"""The PSMP lifecycle through the API, the ORM (shell/admin path) and raw SQL."""

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from artifacts.models import Artifact
from governance.models import GovernancePolicy
from metaqore_site.errors import GovernanceBlocked, GovernanceBypassError
from tests.artifacts.conftest import declare


def transition(client, artifact_id, to, reason="test"):
    return client.post(f"/api/v1/artifacts/{artifact_id}/transition", {"to": to, "reason": reason})


def test_activate_then_new_version_archives_the_previous(coder, project):
    v1 = declare(coder, project).json()
    assert transition(coder, v1["id"], "active").json()["state"] == "active"
    v2 = declare(coder, project).json()
    assert transition(coder, v2["id"], "active").status_code == 200
    assert Artifact.objects.get(pk=v1["id"]).state == "archived"
    assert Artifact.objects.filter(project=project, state="active").count() == 1


def test_auto_archive_off_refuses_second_active(coder, project):
    policy = GovernancePolicy.load()
    policy.auto_archive_superseded = False
    policy.save()
    v1 = declare(coder, project).json()
    transition(coder, v1["id"], "active")
    v2 = declare(coder, project).json()
    response = transition(coder, v2["id"], "active")
    assert response.status_code == 409
    assert response.json()["code"] == "line_has_active_version"


@pytest.mark.parametrize(
    ("path", "target"), [("active", "draft"), ("archived", "active"), ("archived", "draft")]
)
def test_illegal_transitions_are_409_and_change_nothing(coder, project, path, target):
    artifact = declare(coder, project).json()
    transition(coder, artifact["id"], path)
    response = transition(coder, artifact["id"], target)
    assert response.status_code in (400, 409)  # "draft" is not a target the API accepts
    assert Artifact.objects.get(pk=artifact["id"]).state == path


def test_archived_cannot_be_archived_again(coder, project):
    artifact = declare(coder, project).json()
    transition(coder, artifact["id"], "archived")
    response = transition(coder, artifact["id"], "archived")
    assert response.status_code == 409
    assert "already archived" in response.json()["detail"]


def test_activation_needs_no_open_conflict(coder, tester, project):
    declare(coder, project)
    blocked = declare(tester, project).json()
    response = transition(tester, blocked["id"], "active")
    assert response.status_code == 409
    assert response.json()["code"] == "activation_blocked"
    assert "parallel_creation" in response.json()["detail"]


def test_activation_needs_active_dependencies(coder, project):
    spec = declare(coder, project, artifact_type="spec").json()
    code = declare(coder, project, depends_on=[spec["id"]]).json()
    response = transition(coder, code["id"], "active")
    assert response.status_code == 409
    assert f"dependency {spec['id']} is draft" in response.json()["detail"]
    transition(coder, spec["id"], "active")
    assert transition(coder, code["id"], "active").status_code == 200


def test_patch_only_for_drafts(coder, project):
    artifact = declare(coder, project).json()
    assert coder.patch(f"/api/v1/artifacts/{artifact['id']}", {"data": {"v": 2}}).status_code == 200
    transition(coder, artifact["id"], "active")
    response = coder.patch(f"/api/v1/artifacts/{artifact['id']}", {"data": {"v": 3}})
    assert response.status_code == 409
    assert Artifact.objects.get(pk=artifact["id"]).data == {"v": 2}


def test_patch_cannot_change_identity_fields(coder, project):
    artifact = declare(coder, project).json()
    response = coder.patch(
        f"/api/v1/artifacts/{artifact['id']}", {"version": 9, "artifact_type": "plan"}
    )
    assert response.status_code == 400
    assert set(response.json()) == {"version", "artifact_type"}
    stored = Artifact.objects.get(pk=artifact["id"])
    assert (stored.version, stored.artifact_type) == (1, "code")


def test_delete_only_for_drafts(coder, project):
    draft = declare(coder, project).json()
    assert coder.delete(f"/api/v1/artifacts/{draft['id']}").status_code == 204
    active = declare(coder, project).json()
    transition(coder, active["id"], "active")
    assert coder.delete(f"/api/v1/artifacts/{active['id']}").status_code == 409
    assert Artifact.objects.filter(pk=active["id"]).exists()


def test_filters(coder, tester, project):
    declare(coder, project)
    declare(tester, project, artifact_type="test")
    blocked = declare(tester, project).json()
    assert coder.get("/api/v1/artifacts?created_by=agent:tester").json()["count"] == 2
    assert coder.get("/api/v1/artifacts?artifact_type=test").json()["count"] == 1
    only_blocked = coder.get("/api/v1/artifacts?is_blocked=true").json()
    assert [a["id"] for a in only_blocked["results"]] == [blocked["id"]]
    assert coder.get(f"/api/v1/artifacts?project_id={project.id}&state=draft").json()["count"] == 3
    assert coder.get("/api/v1/artifacts?state=bogus").status_code == 400


# --- the ORM path: the admin and the shell call save(); governance still applies -------------


def test_orm_create_is_governed_like_the_api(coder, project):
    declare(coder, project)
    artifact = Artifact(project=project, artifact_type="code", data={"x": 1}, version=1)
    artifact.save()
    assert artifact.version == 2
    assert artifact.created_by == "system"
    assert artifact.is_blocked is True  # strict mode
    types = set(artifact.conflicts.values_list("conflict_type", flat=True))
    assert types == {"version_mismatch", "parallel_creation"}  # "system" is another author


def test_orm_state_change_obeys_the_state_machine(coder, project):
    artifact = Artifact.objects.create(project=project, artifact_type="plan", data={})
    artifact.state = "active"
    artifact.save()
    assert Artifact.objects.get(pk=artifact.pk).state == "active"
    artifact.state = "draft"
    with pytest.raises(GovernanceBlocked):
        artifact.save()
    assert Artifact.objects.get(pk=artifact.pk).state == "active"


def test_orm_activation_with_open_conflict_is_refused(coder, tester, project):
    declare(coder, project)
    blocked = Artifact.objects.get(pk=declare(tester, project).json()["id"])
    blocked.state = "active"
    with pytest.raises(GovernanceBlocked):
        blocked.save()


def test_orm_cannot_unblock_by_hand(coder, tester, project):
    declare(coder, project)
    blocked = Artifact.objects.get(pk=declare(tester, project).json()["id"])
    blocked.is_blocked = False
    with pytest.raises(GovernanceBypassError):
        blocked.save()


def test_bulk_operations_are_refused(project):
    with pytest.raises(GovernanceBypassError):
        Artifact.objects.filter(project=project).update(state="active")
    with pytest.raises(GovernanceBypassError):
        Artifact.objects.bulk_create([Artifact(project=project, artifact_type="x", data={})])
    with pytest.raises(GovernanceBypassError):
        Artifact.objects.all().delete()


def test_database_refuses_raw_update_of_archived_state(coder, project):
    artifact = declare(coder, project).json()
    transition(coder, artifact["id"], "archived")
    with (
        pytest.raises(DatabaseError, match="pgtrigger"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE artifacts_artifact SET state = 'active' WHERE id = %s", [artifact["id"]]
        )
    assert Artifact.objects.get(pk=artifact["id"]).state == "archived"


def test_database_refuses_raw_content_change_of_active(coder, project):
    artifact = declare(coder, project).json()
    transition(coder, artifact["id"], "active")
    with (
        pytest.raises(DatabaseError, match="pgtrigger"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE artifacts_artifact SET data = '{}'::jsonb WHERE id = %s", [artifact["id"]]
        )


def test_database_refuses_two_active_versions(coder, project):
    v1 = declare(coder, project).json()
    v2 = declare(coder, project).json()
    transition(coder, v1["id"], "active")
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE artifacts_artifact SET state = 'active' WHERE id = %s", [v2["id"]])


def test_project_with_artifacts_cannot_be_deleted(coder, project):
    declare(coder, project)
    response = coder.delete(f"/api/v1/projects/{project.id}")
    assert response.status_code == 409
    assert response.json()["code"] == "protected"
