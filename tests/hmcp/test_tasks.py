"""HMCP's periodic jobs, run as the worker runs them (inside the org's schema)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from compliance.models import AuditEvent
from hmcp.models import TrainingJob
from hmcp.tasks import requeue_expired_leases, retire_idle_specialists
from tests.hmcp.conftest import clock, last_seq, propose


@pytest.fixture
def job(agent, project, skill) -> dict:
    return propose(agent, project).json()["training_job"]


def test_the_lease_job_requeues_expired_leases_in_its_org(org_a, trainer, job):
    trainer.post(f"/api/v1/specialists/training-jobs/{job['id']}/claim")
    assert requeue_expired_leases.task(org=org_a.schema_name) == 0  # the lease still runs
    start = last_seq()
    with clock(timedelta(minutes=31)):
        assert requeue_expired_leases.task(org=org_a.schema_name) == 1
    assert TrainingJob.objects.get(pk=job["id"]).status == "queued"
    event = AuditEvent.objects.get(seq__gt=start)
    assert (event.event_type, event.actor) == ("training_job.requeued", "system")


def test_the_retire_job_runs_in_the_org_it_names(org_a, org_b):
    assert retire_idle_specialists.task(org=org_b.schema_name) == 0
