"""Training jobs: claims and leases, the validation gate through the API, failures."""

from __future__ import annotations

from datetime import timedelta

import pytest

from artifacts.models import Artifact
from compliance.models import AuditEvent
from hmcp.models import HierarchyPolicy, Specialist, TrainingJob
from tests.hmcp.conftest import (
    GOOD_METRICS,
    clock,
    event_types_after,
    events_after,
    last_seq,
    propose,
    train,
)

JOBS = "/api/v1/specialists/training-jobs"


@pytest.fixture
def job(agent, project, skill) -> dict:
    return propose(agent, project).json()["training_job"]


def claim(client, job_id):
    return client.post(f"{JOBS}/{job_id}/claim")


def complete(client, job_id, metrics=None):
    return client.post(f"{JOBS}/{job_id}/complete", {"metrics": metrics or GOOD_METRICS})


def test_trainers_list_queued_jobs(trainer, job):
    response = trainer.get(f"{JOBS}?status=queued")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    listed = body["results"][0]
    assert listed["id"] == job["id"]
    assert listed["status"] == "queued"
    assert (listed["skill_id"], listed["level"], listed["purpose"]) == (
        "data-cleaning",
        "level_1",
        "initial",
    )
    assert listed["teachers"] == ["gpt-4o"]
    assert trainer.get(f"{JOBS}?status=claimed").json()["count"] == 0
    assert trainer.get(f"{JOBS}?status=bogus").status_code == 400


def test_claim_takes_a_lease(trainer, job):
    start = last_seq()
    response = claim(trainer, job["id"])
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["claimed_by"], body["attempts"]) == (
        "claimed",
        "agent:trainer-1",
        1,
    )
    stored = TrainingJob.objects.get(pk=job["id"])
    lease = stored.lease_expires_at - stored.claimed_at
    assert lease == timedelta(minutes=HierarchyPolicy.load().lease_minutes) == timedelta(minutes=30)
    assert events_after(start) == [("training_job.claimed", "agent:trainer-1")]


def test_a_claimed_job_cannot_be_claimed_again(trainer, trainer2, job):
    claim(trainer, job["id"])
    response = claim(trainer2, job["id"])
    assert response.status_code == 409
    assert response.json()["code"] == "job_taken"
    assert "claimed by agent:trainer-1 until" in response.json()["detail"]


def test_only_the_claimant_reports(trainer, trainer2, job):
    assert complete(trainer, job["id"]).json()["code"] == "job_not_claimed"
    claim(trainer, job["id"])
    response = complete(trainer2, job["id"])
    assert response.status_code == 409
    assert response.json()["code"] == "job_taken"
    response = trainer2.post(f"{JOBS}/{job['id']}/fail", {"reason": "x"})
    assert response.status_code == 409


def test_complete_passes_the_gate_and_activates(agent, trainer, job):
    start = last_seq()
    response = train(trainer, job["id"])
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "completed"
    assert body["metrics"] == GOOD_METRICS
    assert body["gate"]["passed"] is True
    assert body["gate"]["failed_stages"] == []
    assert body["specialist"]["lifecycle"] == "active"
    assert events_after(start) == [
        ("training_job.claimed", "agent:trainer-1"),
        ("specialist.transitioned", "agent:trainer-1"),  # → validation_gating
        ("artifact.transitioned", "agent:trainer-1"),  # draft → active
        ("specialist.transitioned", "agent:trainer-1"),  # → active
        ("training_job.completed", "agent:trainer-1"),
    ]
    activation = AuditEvent.objects.filter(seq__gt=start, event_type="specialist.transitioned")
    assert [e.payload["to"] for e in activation.order_by("seq")] == ["validation_gating", "active"]


@pytest.mark.parametrize(
    ("change", "stage"),
    [
        ({"functional_unit_test": 0.9}, "functional_unit_test"),
        ({"catastrophic_forgetting_drop": 0.05}, "catastrophic_forgetting"),
        ({"adversarial_robustness": False}, "adversarial_robustness"),
        ({"psmp_compatibility": False}, "psmp_compatibility"),
    ],
)
def test_each_gate_stage_failing_alone_blocks_with_that_stage(trainer, job, change, stage):
    start = last_seq()
    response = train(trainer, job["id"], {**GOOD_METRICS, **change})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "completed"
    assert body["gate"]["passed"] is False
    assert body["gate"]["failed_stages"] == [stage]
    specialist = Specialist.objects.get(pk=body["specialist_id"])
    assert specialist.lifecycle == "blocked"
    assert specialist.lifecycle_history[-1]["reason"].endswith(f"): {stage}")
    assert Artifact.objects.get(pk=specialist.artifact_id).state == "archived"
    blocked = AuditEvent.objects.get(seq__gt=start, event_type="specialist.blocked")
    assert blocked.payload["failed_stages"] == [stage]
    assert blocked.payload["from"] == "validation_gating"
    assert event_types_after(start)[-3:] == [
        "training_job.completed",
        "specialist.blocked",
        "artifact.transitioned",
    ]


def test_missing_metrics_fail_their_stages(trainer, job):
    body = train(trainer, job["id"], {"functional_unit_test": 0.99}).json()
    assert body["gate"]["failed_stages"] == [
        "catastrophic_forgetting",
        "adversarial_robustness",
        "psmp_compatibility",
    ]


def test_gate_thresholds_come_from_the_org_policy(trainer, job):
    policy = HierarchyPolicy.load()
    policy.gate_functional_unit_test_min = 0.99
    policy.save()
    body = train(trainer, job["id"]).json()
    assert body["gate"]["failed_stages"] == ["functional_unit_test"]


def test_fail_blocks_the_specialist_with_the_reason(trainer, job):
    claim(trainer, job["id"])
    start = last_seq()
    response = trainer.post(f"{JOBS}/{job['id']}/fail", {"reason": "out of GPU memory"})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "failed"
    assert body["failure_reason"] == "out of GPU memory"
    assert body["specialist"]["lifecycle"] == "blocked"
    assert "out of GPU memory" in body["specialist"]["lifecycle_history"][-1]["reason"]
    assert event_types_after(start) == [
        "training_job.failed",
        "specialist.blocked",
        "artifact.transitioned",
    ]
    assert trainer.post(f"{JOBS}/{job['id']}/fail", {"reason": ""}).status_code == 400


def test_finished_jobs_cannot_be_claimed_or_reported(trainer, job):
    train(trainer, job["id"])
    response = claim(trainer, job["id"])
    assert response.status_code == 409
    assert response.json()["code"] == "job_finished"
    assert complete(trainer, job["id"]).status_code == 409


def test_claim_next_is_a_queue(agent, trainer, trainer2, project, skill):
    first = propose(agent, project).json()["training_job"]["id"]
    second = propose(
        agent, project, parent_level_identifier="level_1", parameter_count=1_000_000
    ).json()["training_job"]["id"]
    assert trainer.post(f"{JOBS}/claim-next").json()["id"] == first
    assert trainer2.post(f"{JOBS}/claim-next").json()["id"] == second
    response = trainer.post(f"{JOBS}/claim-next")
    assert response.status_code == 204


# --- leases -----------------------------------------------------------------------------------


def test_an_expired_lease_is_requeued_when_jobs_are_listed(trainer, job):
    claim(trainer, job["id"])
    with clock(timedelta(minutes=29)):
        assert trainer.get(f"{JOBS}?status=queued").json()["count"] == 0
    start = last_seq()
    with clock(timedelta(minutes=31)):
        listed = trainer.get(f"{JOBS}?status=queued").json()
    assert [j["id"] for j in listed["results"]] == [job["id"]]
    assert listed["results"][0]["claimed_by"] == ""
    event = AuditEvent.objects.get(seq__gt=start)
    assert (event.event_type, event.actor) == ("training_job.requeued", "system")
    assert event.payload["previous_claimant"] == "agent:trainer-1"
    assert event.payload["reason"] == "lease expired"


def test_an_expired_lease_can_be_claimed_by_another_trainer(trainer, trainer2, job):
    claim(trainer, job["id"])
    start = last_seq()
    with clock(timedelta(minutes=31)):
        response = claim(trainer2, job["id"])
    assert response.status_code == 200
    assert (response.json()["claimed_by"], response.json()["attempts"]) == ("agent:trainer-2", 2)
    assert event_types_after(start) == ["training_job.requeued", "training_job.claimed"]


def test_completing_after_the_lease_expired_is_refused_and_requeues(trainer, job):
    claim(trainer, job["id"])
    with clock(timedelta(minutes=31)):
        response = complete(trainer, job["id"])
    assert response.status_code == 409
    assert response.json()["code"] == "lease_expired"
    assert "re-queued" in response.json()["detail"]
    stored = TrainingJob.objects.get(pk=job["id"])
    assert stored.status == "queued"
    assert Specialist.objects.get(pk=stored.specialist_id).lifecycle == "training"
    # the trainer claims again and finishes
    assert train(trainer, job["id"]).json()["specialist"]["lifecycle"] == "active"


def test_lease_length_is_the_org_policy(trainer, job):
    policy = HierarchyPolicy.load()
    policy.lease_minutes = 5
    policy.save()
    claim(trainer, job["id"])
    with clock(timedelta(minutes=6)):
        assert trainer.get(f"{JOBS}?status=queued").json()["count"] == 1


def test_unknown_jobs_are_404(trainer):
    assert claim(trainer, "job_0000000000000000").status_code == 404
    assert complete(trainer, "job_0000000000000000").status_code == 404
    assert trainer.get(f"{JOBS}/job_0000000000000000").status_code == 404
    assert claim(trainer, "not-a-job").status_code == 404


def test_a_cancelled_job_cannot_be_claimed(agent, trainer, job):
    agent.post(
        f"/api/v1/specialists/{job['specialist_id']}/transition",
        {"to": "blocked", "reason": "changed our mind"},
    )
    response = claim(trainer, job["id"])
    assert response.status_code == 409
    assert response.json() == {"detail": f"{job['id']} is failed.", "code": "job_finished"}
