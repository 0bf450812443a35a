"""The Jobs page: an org admin sees the org's jobs by task and state (and no other org's) and
retries a dead one; other roles are refused."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client

from access.roles import AUDITOR, COMPLIANCE_OFFICER, ORG_ADMIN, VIEWER
from hmcp.tasks import requeue_expired_leases, retire_idle_specialists
from jobs.queue import enqueue
from tests.conftest import make_user, use_org


def login(org, username: str, role: str) -> Client:
    client = Client(HTTP_HOST="alpha.localhost")
    client.force_login(make_user(org, username, role))
    return client


def kill(job_id: int) -> None:
    """Take the job as a worker would and fail it for good: a dead job."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM procrastinate_fetch_job_v2(NULL, NULL)")
        assert cursor.fetchone()[0] == job_id
        cursor.execute("SELECT procrastinate_finish_job_v1(%s, 'failed', false)", [job_id])


def status_of(job_id: int) -> tuple[str, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT status, attempts FROM procrastinate_jobs WHERE id = %s", [job_id])
        return cursor.fetchone()


@pytest.fixture
def jobs(org_a, org_b):
    dead = enqueue(requeue_expired_leases, org=org_a.schema_name)
    kill(dead)
    queued = enqueue(retire_idle_specialists, org=org_a.schema_name)
    other = enqueue(retire_idle_specialists, org=org_b.schema_name)
    use_org(org_a)
    return {"dead": dead, "queued": queued, "other": other}


@pytest.mark.parametrize("role", [VIEWER, AUDITOR, COMPLIANCE_OFFICER])
def test_only_org_admins_see_the_jobs_page(org_a, role):
    client = login(org_a, "someone", role)
    assert client.get("/dashboard/jobs/").status_code == 403
    assert b'href="/dashboard/jobs/"' not in client.get("/dashboard/").content


def test_the_org_admin_sees_the_orgs_jobs_by_task_and_state(org_a, jobs):
    client = login(org_a, "adam", ORG_ADMIN)
    page = client.get("/dashboard/jobs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f'data-job="{jobs["dead"]}" data-state="dead"' in html
    assert f'data-job="{jobs["queued"]}" data-state="queued"' in html
    assert f'data-job="{jobs["other"]}"' not in html  # another org's job
    assert f'name="retry" value="{jobs["dead"]}"' in html
    assert f'name="retry" value="{jobs["queued"]}"' not in html
    dead_only = client.get("/dashboard/jobs/?state=dead").content.decode()
    assert f'data-job="{jobs["dead"]}"' in dead_only
    assert f'data-job="{jobs["queued"]}"' not in dead_only
    assert client.get("/dashboard/jobs/?state=bogus&task=nope").status_code == 200


def test_a_dead_job_is_retried_and_only_a_dead_one_of_this_org(org_a, jobs):
    client = login(org_a, "adam", ORG_ADMIN)
    response = client.post("/dashboard/jobs/", {"retry": jobs["dead"]}, follow=True)
    assert f"Job {jobs['dead']} queued again." in response.content.decode()
    assert status_of(jobs["dead"]) == ("todo", 2)
    for job_id, message in (
        (jobs["queued"], "is not dead"),
        (jobs["other"], "No job"),
        ("x", "No job"),
    ):
        response = client.post("/dashboard/jobs/", {"retry": job_id}, follow=True)
        assert response.status_code == 200
        assert message in response.content.decode()
    assert status_of(jobs["other"]) == ("todo", 0)
