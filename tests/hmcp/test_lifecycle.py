"""The specialist lifecycle: proposing, legal and illegal moves (409), the database behind
the state machine, and how PSMP's decisions on the specialist's artifact move it."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from access.actors import SYSTEM
from artifacts.models import Artifact, Conflict
from governance.models import GovernancePolicy
from hmcp.models import Specialist, TrainingJob
from hmcp.services import specialist_transition
from metaqore_site.errors import GovernanceBypassError
from tests.hmcp.conftest import (
    activate,
    event_types_after,
    events_after,
    last_seq,
    proposal,
    propose,
    train,
)


def transition(client, specialist_id, to, reason="test"):
    return client.post(
        f"/api/v1/specialists/{specialist_id}/transition/", {"to": to, "reason": reason}
    )


def states(specialist_id: str) -> list[str]:
    history = Specialist.objects.get(pk=specialist_id).lifecycle_history
    return [entry["state"] for entry in history]


def test_a_clean_proposal_goes_to_training_with_a_queued_job(agent, project, skill):
    response = propose(agent, project)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["id"].startswith("spec_") and len(body["id"]) >= 17
    assert (body["skill_id"], body["level"], body["lifecycle"]) == (
        "data-cleaning",
        "level_1",
        "training",
    )
    assert [entry["state"] for entry in body["lifecycle_history"]] == [
        "proposed",
        "psmp_validating",
        "training",
    ]
    assert all(entry["by"] == "agent:data-agent" for entry in body["lifecycle_history"])
    assert set(body["lifecycle_history"][0]) == {"state", "at", "by", "reason"}
    assert body["training_job"]["status"] == "queued"
    assert body["governance"]["outcome"] == "accepted"

    artifact = Artifact.objects.get(pk=body["artifact_id"])
    assert artifact.artifact_type == "specialist_model:data-cleaning:level_1"
    assert artifact.state == "draft"
    assert artifact.data == {"base_model": "phi-3-mini"}
    assert artifact.metadata["specialist"] == {
        "id": body["id"],
        "skill_id": "data-cleaning",
        "level": "level_1",
    }


def test_the_gate_is_the_only_way_to_active(agent, trainer, project, skill):
    specialist = activate(agent, trainer, project)
    assert states(specialist["id"]) == [
        "proposed",
        "psmp_validating",
        "training",
        "validation_gating",
        "active",
    ]
    artifact = Artifact.objects.get(pk=specialist["artifact_id"])
    assert artifact.state == "active"
    assert specialist["activation_score"] == 0.95  # the golden-set score at the gate


@pytest.mark.parametrize("target", ["active", "training", "proposed", "psmp_validating", "nope"])
def test_targets_other_than_deprecated_or_blocked_are_refused(agent, project, skill, target):
    specialist = propose(agent, project).json()
    response = transition(agent, specialist["id"], target)
    assert response.status_code == 400
    assert Specialist.objects.get(pk=specialist["id"]).lifecycle == "training"


def test_deprecating_a_specialist_in_training_is_illegal_409(agent, project, skill):
    specialist = propose(agent, project).json()
    response = transition(agent, specialist["id"], "deprecated")
    assert response.status_code == 409
    assert response.json() == {
        "detail": f"{specialist['id']} cannot go from training to deprecated: allowed from "
        "training: ['blocked', 'validation_gating'].",
        "code": "illegal_transition",
    }


def test_block_from_training_records_why_and_cancels_the_job(agent, project, skill):
    specialist = propose(agent, project).json()
    start = last_seq()
    response = transition(agent, specialist["id"], "blocked", "teacher licence revoked")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["lifecycle"] == "blocked"
    assert body["lifecycle_history"][-1]["reason"] == "teacher licence revoked"
    job = TrainingJob.objects.get(specialist_id=specialist["id"])
    assert job.status == "failed"
    assert "teacher licence revoked" in job.failure_reason
    assert Artifact.objects.get(pk=specialist["artifact_id"]).state == "archived"
    assert event_types_after(start) == [
        "specialist.blocked",
        "training_job.failed",
        "artifact.transitioned",
    ]


def test_blocking_needs_a_reason(agent, project, skill):
    specialist = propose(agent, project).json()
    response = transition(agent, specialist["id"], "blocked", "  ")
    assert response.status_code == 400
    assert "reason" in response.json()


def test_deprecate_an_active_specialist_then_nothing_more(agent, trainer, project, skill):
    specialist = activate(agent, trainer, project)
    response = transition(agent, specialist["id"], "deprecated", "replaced by v2")
    assert response.status_code == 200
    assert response.json()["lifecycle"] == "deprecated"
    assert Artifact.objects.get(pk=specialist["artifact_id"]).state == "archived"
    for target in ("deprecated", "blocked"):
        again = transition(agent, specialist["id"], target)
        assert again.status_code == 409, target
    assert (
        transition(agent, specialist["id"], "deprecated")
        .json()["detail"]
        .endswith("is already deprecated.")
    )


def test_an_active_specialist_can_be_blocked(agent, trainer, project, skill):
    specialist = activate(agent, trainer, project)
    response = transition(agent, specialist["id"], "blocked", "leaks PII")
    assert response.status_code == 200
    assert response.json()["lifecycle"] == "blocked"


def test_blocked_is_terminal(agent, project, skill):
    specialist = propose(agent, project).json()
    transition(agent, specialist["id"], "blocked", "stop")
    for target in ("blocked", "deprecated"):
        assert transition(agent, specialist["id"], target).status_code == 409
    with pytest.raises(GovernanceBypassError):
        TrainingJob.objects.filter(specialist_id=specialist["id"]).update(status="queued")


# --- the state machine is the model's, backed by the database ---------------------------------


def test_plain_save_cannot_move_the_lifecycle(agent, project, skill):
    specialist = Specialist.objects.get(pk=propose(agent, project).json()["id"])
    specialist.lifecycle = "active"
    with pytest.raises(GovernanceBypassError, match="changes only through"):
        specialist.save()
    assert Specialist.objects.get(pk=specialist.pk).lifecycle == "training"


def test_bulk_writes_and_deletes_are_refused(agent, project, skill):
    specialist = Specialist.objects.get(pk=propose(agent, project).json()["id"])
    with pytest.raises(GovernanceBypassError):
        Specialist.objects.filter(pk=specialist.pk).update(lifecycle="active")
    with pytest.raises(GovernanceBypassError):
        Specialist.objects.filter(pk=specialist.pk).delete()
    with pytest.raises(GovernanceBypassError):
        specialist.delete()
    with pytest.raises(GovernanceBypassError, match=r"created by hmcp\.services"):
        Specialist(skill=skill, project=project, level="level_1", parameter_count=1).save()


def test_the_database_refuses_illegal_lifecycle_moves(agent, project, skill):
    specialist_id = propose(agent, project).json()["id"]
    table = Specialist._meta.db_table
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET lifecycle = 'active' WHERE id = %s", [specialist_id])
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET lifecycle = 'unknown' WHERE id = %s", [specialist_id])
    assert Specialist.objects.get(pk=specialist_id).lifecycle == "training"


def test_other_fields_saved_from_the_shell_are_audited_as_system(agent, project, skill):
    specialist = Specialist.objects.get(pk=propose(agent, project).json()["id"])
    start = last_seq()
    specialist.teachers = ["llama-3-70b"]
    specialist.save()
    assert event_types_after(start) == ["specialist.updated"]


# --- PSMP on the specialist's artifact ---------------------------------------------------------


def test_two_specialists_for_one_skill_and_level_conflict_409(agent, project, skill):
    first = propose(agent, project).json()
    second = propose(agent, project)
    assert second.status_code == 409
    body = second.json()
    assert body["lifecycle"] == "psmp_validating"
    assert body["training_job"] is None
    assert body["governance"]["outcome"] == "blocked"
    conflict = body["governance"]["conflicts"][0]
    assert conflict["conflict_type"] == "duplicate_specialist"
    assert conflict["severity"] == "high"
    assert conflict["details"]["other_specialist_id"] == first["id"]
    assert first["id"] in body["governance"]["remediation"][0]["hint"]
    assert not TrainingJob.objects.filter(specialist_id=body["id"]).exists()


def test_other_skills_or_levels_do_not_conflict(agent, project, skill):
    assert propose(agent, project).status_code == 201
    child = propose(agent, project, parent_level_identifier="level_1", parameter_count=5_000_000)
    assert child.status_code == 201, child.json()
    assert child.json()["level"] == "level_2"


def test_an_archived_specialist_frees_its_line(agent, project, skill):
    first = propose(agent, project).json()
    transition(agent, first["id"], "blocked", "wrong base model")
    assert propose(agent, project).status_code == 201


def test_resolving_the_conflict_by_override_resumes_training(agent, officer, project, skill):
    propose(agent, project)
    blocked = propose(agent, project).json()
    conflict_id = blocked["governance"]["conflicts"][0]["id"]
    start = last_seq()
    response = officer.post(
        f"/api/v1/governance/conflicts/{conflict_id}/resolve",
        {"strategy": "override", "note": "two variants on purpose"},
    )
    assert response.status_code == 200, response.json()
    specialist = Specialist.objects.get(pk=blocked["id"])
    assert specialist.lifecycle == "training"
    assert specialist.lifecycle_history[-1]["by"] == "user:olivia"
    assert TrainingJob.objects.get(specialist=specialist).status == "queued"
    assert event_types_after(start) == [
        "conflict.resolved",
        "artifact.unblocked",
        "specialist.transitioned",
        "training_job.queued",
    ]


def test_resolving_the_conflict_by_retry_blocks_the_specialist(agent, officer, project, skill):
    propose(agent, project)
    blocked = propose(agent, project).json()
    conflict_id = blocked["governance"]["conflicts"][0]["id"]
    response = officer.post(
        f"/api/v1/governance/conflicts/{conflict_id}/resolve", {"strategy": "retry"}
    )
    assert response.status_code == 200
    specialist = Specialist.objects.get(pk=blocked["id"])
    assert specialist.lifecycle == "blocked"
    assert "was archived" in specialist.lifecycle_history[-1]["reason"]


def test_the_artifacts_api_cannot_activate_a_specialist_model(agent, project, skill):
    specialist = propose(agent, project).json()
    response = agent.post(
        f"/api/v1/artifacts/{specialist['artifact_id']}/transition", {"to": "active"}
    )
    assert response.status_code == 409
    assert "only through the validation gate" in response.json()["detail"]
    # nor can a hand-made artifact of a specialist line
    direct = agent.post(
        "/api/v1/artifacts",
        {"project_id": project.id, "artifact_type": "specialist_model:x:level_1", "data": {}},
    ).json()
    response = agent.post(f"/api/v1/artifacts/{direct['id']}/transition", {"to": "active"})
    assert response.status_code == 409
    assert "(its specialist is missing)" in response.json()["detail"]


def test_archiving_the_artifact_moves_the_specialist(agent, trainer, project, skill):
    training = propose(agent, project).json()
    agent.post(f"/api/v1/artifacts/{training['artifact_id']}/transition", {"to": "archived"})
    assert Specialist.objects.get(pk=training["id"]).lifecycle == "blocked"
    assert TrainingJob.objects.get(specialist_id=training["id"]).status == "failed"

    active = activate(agent, trainer, project)
    agent.post(f"/api/v1/artifacts/{active['artifact_id']}/transition", {"to": "archived"})
    assert Specialist.objects.get(pk=active["id"]).lifecycle == "deprecated"


def test_playground_lets_the_duplicate_train_but_the_gate_holds_the_line(
    agent, trainer, project, skill
):
    """PSMP invariant 1: an unresolved conflict never reaches active, even in playground."""
    policy = GovernancePolicy.load()
    policy.mode = "playground"
    policy.save()
    propose(agent, project)
    second = propose(agent, project)
    assert second.status_code == 201
    assert second.json()["governance"]["outcome"] == "accepted_with_warnings"
    done = train(trainer, second.json()["training_job"]["id"]).json()
    assert done["specialist"]["lifecycle"] == "blocked"
    assert done["gate"]["failed_stages"] == ["psmp_compatibility"]
    assert "unresolved conflict" in done["gate"]["stages"][-1]["reason"]


def test_superseding_an_overridden_duplicate_deprecates_the_old_one(
    agent, trainer, officer, project, skill
):
    old = activate(agent, trainer, project)
    new = propose(agent, project).json()
    conflict = Conflict.objects.get(artifact_id=new["artifact_id"])
    officer.post(f"/api/v1/governance/conflicts/{conflict.id}/resolve", {"strategy": "override"})
    job = TrainingJob.objects.get(specialist_id=new["id"])
    assert train(trainer, job.id).json()["specialist"]["lifecycle"] == "active"
    old_row = Specialist.objects.get(pk=old["id"])
    assert old_row.lifecycle == "deprecated"
    assert "superseded by" in old_row.lifecycle_history[-1]["reason"]


def test_service_refuses_unknown_targets(agent, project, skill):
    specialist = Specialist.objects.get(pk=propose(agent, project).json()["id"])
    from metaqore_site.errors import IllegalTransition

    with pytest.raises(IllegalTransition):
        specialist_transition(specialist=specialist, actor=SYSTEM, to="active")


def test_proposal_validation_is_400_never_500(agent, project, skill):
    bad = [
        {"skill_id": 5},
        {"project_id": "proj_missing"},
        {"teachers": "gpt-4o"},
        {"teachers": ["x\u0000y"]},
        {"parameter_count": 0},
        {"parameter_count": 10**20},
        {"requested_size_mb": -1},
        {"confidence": 1.5},
        {"parent_level_identifier": "x" * 40},
        {"data": [1, 2]},
    ]
    for override in bad:
        response = agent.post("/api/v1/specialists", proposal(project, **override))
        assert response.status_code == 400, (override, response.content)


def test_a_failure_after_the_audit_writes_rolls_everything_back(project, skill):
    from unittest import mock

    from access.actors import Actor
    from hmcp.rules import Proposal
    from hmcp.services import specialist_propose

    start = last_seq()
    proposal_ = Proposal("data-cleaning", ("gpt-4o",), 10, 1000, 0.95, True)
    with (
        mock.patch("hmcp.services.start_training", side_effect=RuntimeError("boom")),
        pytest.raises(RuntimeError),
    ):
        specialist_propose(actor=Actor("agent", "a"), project=project, proposal=proposal_)
    assert last_seq() == start  # specialist.proposed, artifact.declared… are gone too
    assert not Specialist.objects.exists()
    assert not Artifact.objects.filter(artifact_type__startswith="specialist_model:").exists()


def test_skills_saved_from_the_shell_are_audited_as_system(project, skill):
    from hmcp.models import Skill

    start = last_seq()
    skill.description = "edited in the shell"
    skill.save()
    Skill.objects.create(skill_id="shell-made", max_specialist_size_mb=1)
    assert events_after(start) == [
        ("skill.updated", "system"),
        ("skill.created", "system"),
    ]
