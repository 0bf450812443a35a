"""Webhook deliveries run by real worker processes (``manage.py run_worker``) against the test
database: exactly once to a healthy receiver, nothing for a rolled-back event, retries with the
same delivery id, dead letters, a worker killed with SIGKILL mid-delivery, two workers at once."""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter, defaultdict
from itertools import pairwise

import pytest
from django.db import connection, transaction
from django.test import Client

from access.roles import ORG_ADMIN
from access.users import user_create
from artifacts.services import artifact_declare
from events.models import Webhook, WebhookDelivery
from events.webhooks import webhook_create, webhook_delete
from projects.models import Project
from tests.events.live import CODER, Receiver, committed
from tests.events.test_webhooks import ADMIN, SECRET, in_live
from tests.jobs.worker import queue_clear, queue_rows, running_worker, wait_for, worker_env

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


@pytest.fixture
def make_hook(live, settings):
    """Webhooks of the live org (on an empty queue), deleted afterwards."""
    settings.METAQORE_WEBHOOK_ALLOW_PRIVATE = True
    queue_clear()
    made: list[Webhook] = []

    def make(url: str) -> Webhook:
        webhook = in_live(
            live,
            lambda: webhook_create(
                actor=ADMIN, url=url, event_types=["artifact.declared"], secret=SECRET
            ),
        )
        made.append(webhook)
        return webhook

    yield make
    for webhook in made:
        in_live(live, lambda webhook=webhook: webhook_delete(webhook=webhook, actor=ADMIN))
    queue_clear()


def env(**overrides: str) -> dict[str, str]:
    return worker_env(METAQORE_WEBHOOK_ALLOW_PRIVATE="true", **overrides)


def job_states(webhook: Webhook) -> list[tuple[str, int]]:
    return queue_rows(
        "SELECT status, attempts FROM procrastinate_jobs "
        "WHERE task_name = 'events.deliver_webhook' AND lock LIKE %s ORDER BY id",
        [f"%:{webhook.pk}"],
    )


def delivery_of(live, webhook: Webhook) -> WebhookDelivery:
    return in_live(live, lambda: WebhookDelivery.objects.get(webhook=webhook))


def test_committed_event_delivered_exactly_once_and_a_rolled_back_one_never(
    live, make_hook, receiver, tmp_path
):
    hook = make_hook(receiver.url)

    def declare_then_roll_back():
        connection.set_tenant(live.organization)
        project = Project.objects.get(pk=live.project_id)
        with pytest.raises(RuntimeError), transaction.atomic():
            artifact_declare(actor=CODER, project=project, artifact_type="ghost", data={})
            raise RuntimeError("roll back")

    with running_worker(env(), log=tmp_path / "worker.log"):
        committed(declare_then_roll_back)
        declared = live.declare("real").artifact.id
        wait_for(lambda: receiver.requests)
        time.sleep(1.5)  # room for a duplicate or a ghost to show up
    [request] = receiver.requests
    assert json.loads(request.body)["resource_id"] == declared
    delivery = delivery_of(live, hook)
    assert request.headers["X-MetaQore-Delivery"] == delivery.id
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
    assert job_states(hook) == [("succeeded", 1)]


def test_a_receiver_failing_three_times_gets_the_event_on_the_fourth_try(
    live, make_hook, receiver, tmp_path
):
    hook = make_hook(receiver.url)
    receiver.statuses = [500, 502, 503]
    with running_worker(env(METAQORE_WEBHOOK_RETRY_SECONDS="0.2"), log=tmp_path / "w.log"):
        live.declare("flaky")
        wait_for(lambda: len(receiver.requests) >= 4, timeout=30)
        time.sleep(0.5)
    assert len(receiver.requests) == 4
    delivery = delivery_of(live, hook)
    assert {r.headers["X-MetaQore-Delivery"] for r in receiver.requests} == {delivery.id}
    assert (delivery.status, delivery.attempts) == ("delivered", 4)
    assert [r["status_code"] for r in delivery.responses] == [500, 502, 503, 200]
    # Waits of 0.2 s, 0.8 s, 3.2 s between the tries (x4 each time).
    gaps = [b.started - a.started for a, b in pairwise(receiver.requests)]
    assert gaps[0] >= 0.15 and gaps[1] >= 0.7 and gaps[2] >= 3.0
    assert job_states(hook) == [("succeeded", 4)]


def test_a_receiver_failing_past_the_limit_lands_in_dead_letters(
    live, make_hook, receiver, tmp_path
):
    hook = make_hook(receiver.url)
    receiver.statuses = [500] * 3
    worker = env(METAQORE_WEBHOOK_RETRY_SECONDS="0.1", METAQORE_WEBHOOK_MAX_ATTEMPTS="3")
    with running_worker(worker, log=tmp_path / "w.log"):
        live.declare("doomed")
        next_id = live.declare("after").artifact.id
        wait_for(lambda: len(receiver.requests) >= 4, timeout=30)
    doomed = in_live(
        live, lambda: WebhookDelivery.objects.filter(webhook=hook).order_by("event_seq").first()
    )
    assert (doomed.status, doomed.attempts) == ("failed", 3)
    assert job_states(hook) == [("failed", 3), ("succeeded", 1)]
    assert json.loads(receiver.requests[3].body)["resource_id"] == next_id
    # The org admin's Jobs page lists it among the dead, with a Retry button.
    [(dead_id,)] = queue_rows(
        "SELECT id FROM procrastinate_jobs WHERE status = 'failed' AND lock LIKE %s",
        [f"%:{hook.pk}"],
    )

    def jobs_page() -> str:
        # In a connection of its own (committed): the login's audit events must not hold the
        # org's chain head in this test's transaction while the fixture's cleanup appends.
        connection.set_tenant(live.organization)
        client = Client(HTTP_HOST=live.domain)
        user = user_create(username="ops-dead", password=None, actor=ADMIN, roles=[ORG_ADMIN])
        client.force_login(user)
        return client.get("/dashboard/jobs/?state=dead").content.decode()

    page = committed(jobs_page)
    assert f'data-job="{dead_id}" data-state="dead"' in page
    assert f'name="retry" value="{dead_id}"' in page


def test_a_worker_killed_mid_delivery_is_recovered_and_nothing_is_lost(
    live, make_hook, receiver, tmp_path
):
    hook = make_hook(receiver.url)
    receiver.delays = [30]  # the first POST hangs: the worker is killed while it waits
    with running_worker(env(), log=tmp_path / "first.log") as first:
        live.declare("interrupted")
        wait_for(lambda: receiver.requests)
        assert job_states(hook) == [("doing", 0)]
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    assert job_states(hook) == [("doing", 0)]  # nobody finished it
    # The dead worker's heartbeat goes stale after 2 s; the new worker looks for stalled
    # jobs when it starts and then every second (by default: every minute).
    second = env(METAQORE_SCHEDULE_JOBS_RECOVER_STALLED="* * * * * *")
    with running_worker(second, log=tmp_path / "second.log"):
        wait_for(lambda: len(receiver.requests) >= 2, timeout=30)
        wait_for(lambda: job_states(hook) == [("succeeded", 2)], timeout=10)
    delivery = delivery_of(live, hook)
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
    ids = [r.headers["X-MetaQore-Delivery"] for r in receiver.requests]
    assert ids == [delivery.id, delivery.id]  # at least once, with the same id
    assert "Recovered" in (tmp_path / "second.log").read_text()


def test_two_workers_never_run_the_same_job_at_the_same_time(live, make_hook, receiver, tmp_path):
    hooks = [make_hook(f"{receiver.url}/{n}") for n in range(4)]
    receiver.delays = [0.05] * 1000
    declarations = 8

    def declare_all():
        for n in range(declarations):
            live.declare(f"parallel-{n}")

    declare_all()  # 32 jobs waiting before the workers start: they compete for them
    with (
        running_worker(env(), "--concurrency", "4", log=tmp_path / "a.log"),
        running_worker(env(), "--concurrency", "4", log=tmp_path / "b.log"),
    ):
        wait_for(lambda: len(receiver.requests) >= 4 * declarations, timeout=60)
        time.sleep(1)
    ids = Counter(r.headers["X-MetaQore-Delivery"] for r in receiver.requests)
    assert len(ids) == 4 * declarations and set(ids.values()) == {1}  # each exactly once
    per_hook = defaultdict(list)
    for request in receiver.requests:
        per_hook[request.path].append(request)
    for requests in per_hook.values():  # one webhook: one at a time, in seq order
        spans = sorted((r.started, r.answered) for r in requests)
        assert all(prev[1] <= nxt[0] for prev, nxt in pairwise(spans))
        seqs = [json.loads(r.body)["seq"] for r in sorted(requests, key=lambda r: r.started)]
        assert seqs == sorted(seqs)
    for hook in hooks:
        assert job_states(hook) == [("succeeded", 1)] * declarations


def test_sigterm_lets_the_running_delivery_finish(live, make_hook, receiver, tmp_path):
    hook = make_hook(receiver.url)
    receiver.delays = [2]  # the POST takes 2 s: SIGTERM arrives in the middle
    with running_worker(env(), log=tmp_path / "w.log") as worker:
        live.declare("graceful")
        wait_for(lambda: receiver.requests)
        os.killpg(worker.pid, signal.SIGTERM)
        assert worker.wait(timeout=20) == 0
    assert receiver.requests[0].answered > 0
    assert len(receiver.requests) == 1
    assert delivery_of(live, hook).status == "delivered"
    assert job_states(hook) == [("succeeded", 1)]
