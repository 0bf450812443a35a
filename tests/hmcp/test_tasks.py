"""HMCP's periodic jobs, run as the worker runs them (inside the org's schema)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from access.actors import Actor
from access.roles import ORG_ADMIN
from compliance.models import AuditEvent
from hmcp.models import DiscoveryRun, TrainingJob
from hmcp.registry import hierarchy_policy_update
from hmcp.tasks import (
    check_drift,
    discover_repeated_work,
    requeue_expired_leases,
    retire_idle_specialists,
)
from projects.services import task_create
from tests.conftest import make_user
from tests.hmcp.conftest import activate, clock, last_seq, propose

JOBS = "/api/v1/specialists/training-jobs"


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


def test_the_drift_check_queues_retraining_when_a_drifting_specialist_has_no_open_job(
    org_a, agent, trainer, project, skill
):
    active = activate(agent, trainer, project)
    assert check_drift.task(org=org_a.schema_name) == 0  # never observed: nothing to judge
    drift = agent.post(
        f"/api/v1/specialists/{active['id']}/observations",
        {"invocations": 5, "golden_set_score": 0.85},
    ).json()["drift"]
    assert check_drift.task(org=org_a.schema_name) == 0  # the observation queued retraining
    # The retraining fails: the specialist stays active and drifting, with no open job.
    trainer.post(f"{JOBS}/{drift['training_job_id']}/claim")
    trainer.post(f"{JOBS}/{drift['training_job_id']}/fail", {"reason": "no GPU"})
    start = last_seq()
    assert check_drift.task(org=org_a.schema_name) == 1
    [retraining] = TrainingJob.objects.filter(specialist_id=active["id"], status="queued")
    assert retraining.purpose == "retraining"
    events = list(AuditEvent.objects.filter(seq__gt=start).order_by("seq"))
    assert [e.event_type for e in events] == ["training_job.queued", "specialist.drift_detected"]
    assert events[1].payload["by_check"] is True and events[1].actor == "system"
    assert check_drift.task(org=org_a.schema_name) == 0  # the open job is enough


def test_discovery_runs_are_stored_and_shown_on_the_specialists_page(org_a, project):
    for n in range(3):
        task_create(
            actor=Actor("agent", "data-agent"),
            project=project,
            title=f"Clean column {n} of 'orders.csv'",
            assigned_to="data-agent",
        )
    admin = Actor(kind="user", name="root", roles=frozenset({"org_admin"}))
    hierarchy_policy_update(actor=admin, changes={"discovery_min_repetitions": 3})
    assert discover_repeated_work.task(org=org_a.schema_name) == 1
    run = DiscoveryRun.objects.get()
    assert (run.scanned_tasks, run.min_repetitions) == (3, 3)
    [group] = run.results
    assert (group["agent"], group["pattern"], group["count"]) == (
        "data-agent",
        "clean column <n> of <str>",
        3,
    )
    client = Client(HTTP_HOST="alpha.localhost")
    client.force_login(make_user(org_a, "adam", ORG_ADMIN))
    page = client.get("/dashboard/specialists/").content.decode()
    assert 'data-pattern="clean column &lt;n&gt; of &lt;str&gt;"' in page
