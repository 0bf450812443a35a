"""A real worker process against the test database: periodic jobs fan out over every org,
SIGTERM stops it cleanly, a killed worker's job is recovered."""

from __future__ import annotations

import os
import signal

import pytest

from tenants.models import Organization
from tests.events.live import committed
from tests.jobs.worker import queue_clear, queue_rows, running_worker, wait_for, worker_env

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]


@pytest.fixture
def clean_queue(db):
    queue_clear()
    yield
    queue_clear()


def test_a_periodic_hmcp_job_runs_for_every_org_without_a_cron_line(clean_queue, tmp_path):
    schemas = committed(lambda: set(Organization.objects.values_list("schema_name", flat=True)))
    assert {"org_alpha", "org_beta"} <= schemas
    env = worker_env(METAQORE_SCHEDULE_HMCP_LEASES="* * * * * *")  # every second

    def done() -> set[str]:
        rows = queue_rows(
            "SELECT args->>'org' FROM procrastinate_jobs "
            "WHERE task_name = 'hmcp.requeue_expired_leases' AND status = 'succeeded'"
        )
        return {org for (org,) in rows} >= schemas and {org for (org,) in rows}

    with running_worker(env, "--concurrency", "2", log=tmp_path / "worker.log") as worker:
        ran = wait_for(done, timeout=60)
        assert ran == schemas  # every org, and nothing but orgs
        os.killpg(worker.pid, signal.SIGTERM)
        assert worker.wait(timeout=15) == 0  # a graceful stop
    log = (tmp_path / "worker.log").read_text()
    assert "Stop requested" in log
    fan_outs = queue_rows(
        "SELECT status FROM procrastinate_jobs "
        "WHERE task_name = 'hmcp.requeue_expired_leases.every_org'"
    )
    assert fan_outs and {status for (status,) in fan_outs} <= {"succeeded", "todo"}
