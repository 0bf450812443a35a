"""Procrastinate's job list is in the platform admin, never in an organization's admin."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from hmcp.tasks import requeue_expired_leases
from jobs.queue import enqueue

pytestmark = pytest.mark.django_db


def test_an_org_superuser_cannot_list_the_queue(org_a, org_b):
    enqueue(requeue_expired_leases, org=org_b.schema_name)
    user = get_user_model().objects.create_superuser("boss", "", "pw-Secret-123")
    client = Client(HTTP_HOST="alpha.localhost")
    client.force_login(user)
    assert client.get("/admin/procrastinate/procrastinatejob/").status_code == 403
    assert b"procrastinatejob" not in client.get("/admin/").content


def test_the_platform_superuser_lists_every_orgs_jobs(org_a, org_b):
    job_id = enqueue(requeue_expired_leases, org=org_b.schema_name)
    connection.set_schema_to_public()
    user = get_user_model().objects.create_superuser("platform", "", "pw-Secret-123")
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    page = client.get("/admin/procrastinate/procrastinatejob/")
    assert page.status_code == 200
    assert f"/admin/procrastinate/procrastinatejob/{job_id}/" in page.content.decode()
