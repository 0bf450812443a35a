"""Observations, drift (retraining while active) and retirement of idle specialists."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from compliance.models import AuditEvent
from hmcp.models import Specialist, TrainingJob
from tests.hmcp.conftest import (
    GOOD_METRICS,
    activate,
    clock,
    events_after,
    last_seq,
    propose,
    train,
)


def observe(client, specialist_id, **body):
    return client.post(f"/api/v1/specialists/{specialist_id}/observations", body)


@pytest.fixture
def active(agent, trainer, project, skill) -> dict:
    return activate(agent, trainer, project)  # activation score 0.95 (golden set)


def test_observations_accumulate(agent, active):
    start = last_seq()
    response = observe(agent, active["id"], invocations=40, avg_confidence=0.91)
    assert response.status_code == 200, response.json()
    observe(agent, active["id"], invocations=2, golden_set_score=0.94)
    specialist = Specialist.objects.get(pk=active["id"])
    assert specialist.invocations == 42
    assert (specialist.last_avg_confidence, specialist.last_golden_set_score) == (0.91, 0.94)
    assert response.json()["drift"] is None
    assert events_after(start) == [
        ("specialist.observed", "agent:data-agent"),
        ("specialist.observed", "agent:data-agent"),
    ]
    payload = AuditEvent.objects.filter(seq__gt=start).order_by("seq").first().payload
    assert payload["invocations"] == 40 and payload["total_invocations"] == 40


def test_drift_over_five_percent_queues_retraining_and_stays_active(agent, active):
    start = last_seq()
    response = observe(agent, active["id"], invocations=10, golden_set_score=0.90)
    assert response.status_code == 200
    body = response.json()
    assert body["lifecycle"] == "active"
    drift = body["drift"]
    assert drift["activation_score"] == 0.95
    assert drift["golden_set_score"] == 0.90
    assert drift["drop"] == pytest.approx(0.052632, abs=1e-6)
    assert drift["max_drop"] == 0.05
    assert drift["new_job"] is True
    job = TrainingJob.objects.get(pk=drift["training_job_id"])
    assert (job.purpose, job.status) == ("retraining", "queued")
    assert [e for e, _ in events_after(start)] == [
        "specialist.observed",
        "training_job.queued",
        "specialist.drift_detected",
    ]
    detected = AuditEvent.objects.get(seq__gt=start, event_type="specialist.drift_detected")
    assert detected.payload["training_job_id"] == job.id
    assert Specialist.objects.get(pk=active["id"]).drift_detected_at is not None

    # still drifting: the open job is reused, no second job, no second drift event
    again = observe(agent, active["id"], invocations=1, golden_set_score=0.5).json()["drift"]
    assert (again["training_job_id"], again["new_job"]) == (job.id, False)
    assert TrainingJob.objects.filter(specialist_id=active["id"], purpose="retraining").count() == 1


def test_within_five_percent_is_not_drift(agent, active):
    body = observe(agent, active["id"], invocations=1, golden_set_score=0.9025).json()
    assert body["drift"] is None
    assert not TrainingJob.objects.filter(specialist_id=active["id"], purpose="retraining").exists()


def test_retraining_that_passes_renews_the_activation_score(agent, trainer, active):
    job_id = observe(agent, active["id"], invocations=1, golden_set_score=0.8).json()["drift"][
        "training_job_id"
    ]
    start = last_seq()
    body = train(trainer, job_id, {**GOOD_METRICS, "golden_set_score": 0.97}).json()
    assert body["gate"]["passed"] is True
    assert body["specialist"]["lifecycle"] == "active"
    assert body["specialist"]["activation_score"] == 0.97
    assert body["specialist"]["drift_detected_at"] is None
    assert [e for e, _ in events_after(start)] == [
        "training_job.claimed",
        "training_job.completed",
        "specialist.retrained",
    ]


def test_retraining_that_fails_the_gate_blocks_the_drifting_specialist(agent, trainer, active):
    job_id = observe(agent, active["id"], invocations=1, golden_set_score=0.8).json()["drift"][
        "training_job_id"
    ]
    body = train(trainer, job_id, {**GOOD_METRICS, "adversarial_robustness": False}).json()
    assert body["specialist"]["lifecycle"] == "blocked"
    assert body["gate"]["failed_stages"] == ["adversarial_robustness"]


def test_a_failed_retraining_job_keeps_the_specialist_active(agent, trainer, active):
    job_id = observe(agent, active["id"], invocations=1, golden_set_score=0.8).json()["drift"][
        "training_job_id"
    ]
    trainer.post(f"/api/v1/specialists/training-jobs/{job_id}/claim")
    body = trainer.post(
        f"/api/v1/specialists/training-jobs/{job_id}/fail", {"reason": "no data"}
    ).json()
    assert body["specialist"]["lifecycle"] == "active"
    # the next drifting observation queues a fresh job
    again = observe(agent, active["id"], invocations=1, golden_set_score=0.8).json()["drift"]
    assert again["new_job"] is True and again["training_job_id"] != job_id


def test_only_active_specialists_are_observed(agent, project, skill):
    training = propose(agent, project).json()
    response = observe(agent, training["id"], invocations=1)
    assert response.status_code == 409
    assert response.json()["code"] == "not_active"


@pytest.mark.parametrize(
    "body",
    [{}, {"invocations": -1}, {"invocations": 1, "golden_set_score": 2}, {"invocations": "many"}],
)
def test_bad_observations_are_400(agent, active, body):
    assert observe(agent, active["id"], **body).status_code == 400


# --- retirement -------------------------------------------------------------------------------


def retire(*args: str) -> str:
    out = StringIO()
    call_command("retire_specialists", "--org", "alpha", *args, stdout=out)
    return out.getvalue()


def test_no_invocations_for_thirty_days_deprecates(agent, trainer, project, skill, org_a):
    idle = activate(agent, trainer, project)
    used = activate(
        agent, trainer, project, parent_level_identifier="level_1", parameter_count=5_000_000
    )
    with clock(timedelta(days=20)):
        observe(agent, used["id"], invocations=3)
    with clock(timedelta(days=29)):
        assert "Deprecated 0 specialist(s)" in retire()
    start = last_seq()
    with clock(timedelta(days=31)):
        assert "Would deprecate 1 specialist(s)" in retire("--dry-run")
        output = retire()
    assert f"{idle['id']}: no invocations for 30 days" in output
    assert "Deprecated 1 specialist(s) in 'alpha'." in output
    assert Specialist.objects.get(pk=idle["id"]).lifecycle == "deprecated"
    assert Specialist.objects.get(pk=used["id"]).lifecycle == "active"
    assert events_after(start) == [
        ("specialist.transitioned", "system"),
        ("artifact.transitioned", "system"),
    ]
    with clock(timedelta(days=51)):
        retire()
    assert Specialist.objects.get(pk=used["id"]).lifecycle == "deprecated"


def test_observations_without_invocations_do_not_keep_a_specialist_alive(agent, active, org_a):
    with clock(timedelta(days=25)):
        observe(agent, active["id"], invocations=0, golden_set_score=0.95)
    with clock(timedelta(days=31)):
        retire()
    assert Specialist.objects.get(pk=active["id"]).lifecycle == "deprecated"


def test_retire_unknown_org_is_a_command_error(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="Unknown organization"):
        call_command("retire_specialists", "--org", "nope")
