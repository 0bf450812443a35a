"""Reading the queue for a page's rows: the latest job of a task per argument value, this org's
only, in one query."""

from __future__ import annotations

from django.db import connection

from compliance.erasure import erasure_execute_job
from jobs.queue import enqueue
from jobs.selectors import latest_job_states


def fail_for_good(job_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM procrastinate_fetch_job_v2(NULL, NULL)")
        assert cursor.fetchone()[0] == job_id
        cursor.execute("SELECT procrastinate_finish_job_v1(%s, 'failed', false)", [job_id])


def test_the_latest_job_per_value_of_this_org(org_a, org_b, django_assert_num_queries):
    alpha, beta = org_a.schema_name, org_b.schema_name
    other = enqueue(erasure_execute_job, org=beta, erasure_id="ers_c")
    fail_for_good(other)  # another org's job, never shown for alpha
    first = enqueue(erasure_execute_job, org=alpha, erasure_id="ers_a")
    fail_for_good(first)
    enqueue(erasure_execute_job, org=alpha, erasure_id="ers_a")  # queued again: the latest
    enqueue(erasure_execute_job, org=alpha, erasure_id="ers_b")

    with django_assert_num_queries(1):
        states = latest_job_states(
            org=alpha,
            task_name=erasure_execute_job.name,
            argument="erasure_id",
            values=["ers_a", "ers_b", "ers_c", "ers_none"],
        )
    assert states == {"ers_a": "queued", "ers_b": "queued"}
    assert latest_job_states(
        org=beta, task_name=erasure_execute_job.name, argument="erasure_id", values=["ers_c"]
    ) == {"ers_c": "dead"}
    assert latest_job_states(org=alpha, task_name="x", argument="erasure_id", values=[]) == {}
