"""The task API: jobs join the caller's transaction, carry their org, fan out per org, and
schedules come from settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connection, transaction
from procrastinate.contrib.django import app
from procrastinate.contrib.django.models import ProcrastinateJob

from hmcp.tasks import requeue_expired_leases
from jobs.queue import (
    SCHEDULES,
    NotInOrganization,
    enqueue,
    enqueue_for_every_org,
    schedule_cron,
)
from metaqore_site.settings import schedules_from_env
from tenants.models import Organization
from tenants.services import organization_create

pytestmark = pytest.mark.django_db


def jobs_of(task_name: str) -> list[ProcrastinateJob]:
    return list(ProcrastinateJob.objects.filter(task_name=task_name).order_by("id"))


class Boom(Exception):
    pass


def test_a_job_enqueued_in_a_transaction_that_rolls_back_is_gone(org_a):
    with pytest.raises(Boom), transaction.atomic():
        enqueue(requeue_expired_leases)
        assert len(jobs_of("hmcp.requeue_expired_leases")) == 1
        raise Boom
    assert jobs_of("hmcp.requeue_expired_leases") == []


def test_a_committed_job_carries_the_org_schema_and_waits_in_public(org_a):
    job_id = enqueue(requeue_expired_leases)
    [job] = jobs_of("hmcp.requeue_expired_leases")
    assert job.id == job_id
    assert (job.status, job.queue_name, job.attempts) == ("todo", "default", 0)
    assert job.args == {"org": org_a.schema_name}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = %s",
            ["procrastinate_jobs"],
        )
        assert cursor.fetchall() == [("public",)]


def test_an_org_task_needs_an_org(db):
    connection.set_schema_to_public()
    with pytest.raises(NotInOrganization):
        enqueue(requeue_expired_leases)
    enqueue(requeue_expired_leases, org="some_schema")
    assert jobs_of("hmcp.requeue_expired_leases")[0].args == {"org": "some_schema"}


def test_a_queueing_lock_refusal_leaves_the_callers_transaction_usable(org_a):
    with transaction.atomic():
        first = enqueue(requeue_expired_leases, queueing_lock="only-one")
        assert enqueue(requeue_expired_leases, queueing_lock="only-one") is None
        assert Organization.objects.filter(slug="alpha").exists()  # no aborted transaction
    assert first is not None
    assert len(jobs_of("hmcp.requeue_expired_leases")) == 1


def test_fan_out_queues_one_job_per_org_and_never_two_waiting(db):
    schemas = set(Organization.objects.values_list("schema_name", flat=True))
    assert {"org_alpha", "org_beta"} <= schemas
    assert enqueue_for_every_org(requeue_expired_leases) == len(schemas)
    assert enqueue_for_every_org(requeue_expired_leases) == 0  # the first ones still wait
    jobs = jobs_of("hmcp.requeue_expired_leases")
    assert {job.args["org"] for job in jobs} == schemas
    assert {job.queueing_lock for job in jobs} == {
        f"hmcp.requeue_expired_leases@{schema}" for schema in schemas
    }


def test_schedules_are_settings_with_defaults(settings):
    settings.METAQORE_SCHEDULES = {"hmcp-leases": "*/5 * * * *", "hmcp-retire": "off"}
    assert schedule_cron("hmcp-leases", "* * * * *") == "*/5 * * * *"
    assert schedule_cron("hmcp-retire", "15 3 * * *") is None
    assert schedule_cron("hmcp-other", "15 3 * * *") == "15 3 * * *"
    assert schedules_from_env(
        {"METAQORE_SCHEDULE_HMCP_DISCOVERY": "0 3 * * *", "METAQORE_PORT": "1"}
    ) == {"hmcp-discovery": "0 3 * * *"}


def test_the_periodic_jobs_are_registered_with_their_default_schedules():
    periodic = {
        (task.task.name, task.cron) for task in app.periodic_registry.periodic_tasks.values()
    }
    assert ("hmcp.requeue_expired_leases.every_org", "* * * * *") in periodic
    assert ("hmcp.retire_idle_specialists.every_org", "15 3 * * *") in periodic
    assert ("jobs.recover_stalled", "* * * * *") in periodic


def test_the_readme_lists_every_schedule_with_its_default():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert SCHEDULES  # the apps' tasks modules registered theirs at start
    for name, (_cron, default) in SCHEDULES.items():
        assert f"| `{name}` | `{default}` |" in readme, name


def test_deleting_an_org_cancels_its_waiting_jobs_and_no_one_elses(org_a):
    """The worker would skip them (the org is gone); until then they would count as queue
    depth. Cancelled, not deleted: the jobs page and the table keep the record."""
    connection.set_schema_to_public()
    doomed = organization_create(slug="doomed-jobs", name="Doomed", domain="doomed-jobs.localhost")
    gone = enqueue(requeue_expired_leases, org=doomed.schema_name)
    later = enqueue(requeue_expired_leases, org=doomed.schema_name, schedule_in={"hours": 1})
    kept = enqueue(requeue_expired_leases, org=org_a.schema_name)

    doomed.delete(force_drop=True)

    status = dict(ProcrastinateJob.objects.values_list("id", "status"))
    assert (status[gone], status[later], status[kept]) == ("cancelled", "cancelled", "todo")
