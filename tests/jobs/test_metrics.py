"""Prometheus series of the queue: depth per queue and state, each org's jobs by task."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from hmcp.tasks import requeue_expired_leases, retire_idle_specialists
from jobs.queue import enqueue

pytestmark = pytest.mark.django_db


def test_queue_depth_and_jobs_per_org_are_exported(org_a, org_b):
    enqueue(requeue_expired_leases, org=org_a.schema_name)
    enqueue(requeue_expired_leases, org=org_a.schema_name)
    enqueue(retire_idle_specialists, org=org_b.schema_name, schedule_in={"hours": 1})
    response = APIClient(HTTP_HOST="localhost").get("/metrics")
    assert response.status_code == 200
    text = response.content.decode()
    assert 'metaqore_job_queue{queue="default",state="queued"} 3.0' in text
    assert (
        'metaqore_jobs{organization="alpha",state="queued",task="hmcp.requeue_expired_leases"} 2.0'
        in text
    )
    assert (
        'metaqore_jobs{organization="beta",state="queued",task="hmcp.retire_idle_specialists"} 1.0'
        in text
    )
