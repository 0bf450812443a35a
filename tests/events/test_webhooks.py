"""Webhook delivery on the job queue: signature, retries with backoff, order, giving up,
disabling and re-activating, SSRF at delivery time, nothing for a rolled-back event.

A receiver runs on 127.0.0.1 (hence METAQORE_WEBHOOK_ALLOW_PRIVATE in these tests). A real
worker runs the due jobs in this process (``run_worker --once``, its own connections); time is
simulated by making scheduled retries due now, never by sleeping. Real worker processes, kill -9
included, are in tests/events/test_webhook_worker.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone
from procrastinate.jobs import Job

from access.actors import Actor
from artifacts.services import artifact_declare
from compliance.models import AuditEvent
from events.models import Webhook, WebhookDelivery
from events.ssrf import UnsafeWebhookURL, webhook_url_check
from events.tasks import deliver_webhook
from events.webhook_delivery import DeliveryBusy, DeliveryRetry, backoff_delay
from events.webhooks import webhook_create, webhook_delete, webhook_update
from projects.models import Project
from tests.events.live import Receiver, committed
from tests.jobs.worker import queue_clear, queue_rows

ADMIN = Actor(kind="user", name="root", roles=frozenset({"org_admin"}))
SECRET = "a-very-secret-signing-key"

pytestmark = pytest.mark.django_db  # writes others must see go through `committed`


@pytest.fixture
def allow_private(settings):
    settings.METAQORE_WEBHOOK_ALLOW_PRIVATE = True


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


def in_live(live, func):
    """Run ``func`` in the live org's schema, committed (see tests.events.live.committed)."""

    def run():
        connection.set_tenant(live.organization)
        return func()

    return committed(run)


@pytest.fixture
def hook(live, receiver, allow_private):
    """A webhook of the live org pointing at the receiver (deleted afterwards), on an empty
    queue."""
    queue_clear()
    webhook = in_live(
        live,
        lambda: webhook_create(
            actor=ADMIN, url=receiver.url, event_types=["artifact.declared"], secret=SECRET
        ),
    )
    yield webhook
    in_live(live, lambda: webhook_delete(webhook=webhook, actor=ADMIN))
    queue_clear()


def run_worker() -> None:
    """A real worker runs every job that is due, then stops."""
    committed(lambda: call_command("run_worker", "--once", "--concurrency", "1"))


def deliveries(live, hook) -> list[WebhookDelivery]:
    return in_live(
        live, lambda: list(WebhookDelivery.objects.filter(webhook=hook).order_by("event_seq"))
    )


def webhook(live, hook) -> Webhook:
    return in_live(live, lambda: Webhook.objects.get(pk=hook.pk))


def jobs(hook) -> list[tuple[str, int, str]]:
    """(status, attempts, delivery id) of the hook's delivery jobs, in queue order."""
    return [
        (status, attempts, delivery_id)
        for status, attempts, delivery_id in queue_rows(
            "SELECT status, attempts, args->>'delivery_id' FROM procrastinate_jobs "
            "WHERE task_name = 'events.deliver_webhook' AND lock LIKE %s ORDER BY id",
            [f"%:{hook.pk}"],
        )
    ]


def make_due() -> None:
    """Scheduled retries become due now (as if their wait had passed)."""

    def due():
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE procrastinate_jobs SET scheduled_at = now() "
                "WHERE status = 'todo' AND scheduled_at > now()"
            )

    committed(due)


def test_signed_post_with_event_and_delivery_headers(live, hook, receiver):
    declared = live.declare("hooked").artifact.id
    [delivery] = deliveries(live, hook)
    assert jobs(hook) == [("todo", 0, delivery.id)]  # queued with the event, committed with it
    run_worker()
    [request] = receiver.requests
    [delivery] = deliveries(live, hook)
    expected = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-MetaQore-Signature"] == expected
    assert request.headers["X-MetaQore-Event"] == "artifact.declared"
    assert request.headers["X-MetaQore-Delivery"] == delivery.id
    assert request.headers["Content-Type"] == "application/json"
    body = json.loads(request.body)
    assert (body["type"], body["resource_id"], body["seq"]) == (
        "artifact.declared",
        declared,
        delivery.event_seq,
    )
    assert body["organization"] == live.organization.slug
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    assert jobs(hook) == [("succeeded", 1, delivery.id)]
    # Only the subscribed type: the other events of the declaration made no delivery.
    run_worker()
    assert len(receiver.requests) == 1


def test_an_event_rolled_back_queues_nothing(live, hook, receiver):
    class Abort(Exception):
        pass

    def declare_in_a_rolled_back_transaction():
        connection.set_tenant(live.organization)
        try:
            with transaction.atomic():
                project = Project.objects.get(pk=live.project_id)
                artifact_declare(actor=ADMIN, project=project, artifact_type="rolled-back", data={})
                assert WebhookDelivery.objects.filter(webhook=hook).count() == 1
                raise Abort
        except Abort:
            pass

    committed(declare_in_a_rolled_back_transaction)
    assert deliveries(live, hook) == [] and jobs(hook) == []
    run_worker()
    assert receiver.requests == []


def test_retry_after_a_500_with_backoff(live, hook, receiver):
    receiver.statuses = [500]
    live.declare("retried")
    before = timezone.now()
    run_worker()
    [delivery] = deliveries(live, hook)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    assert delivery.last_error == "HTTP 500"
    wait = delivery.next_attempt_at - before
    assert timedelta(seconds=1) <= wait < timedelta(seconds=2)
    assert jobs(hook) == [("todo", 1, delivery.id)]  # the job waits for its retry
    run_worker()  # not due yet: nothing is sent
    assert len(receiver.requests) == 1
    make_due()
    run_worker()
    [delivery] = deliveries(live, hook)
    assert (delivery.status, delivery.attempts) == ("delivered", 2)
    assert [r["status_code"] for r in delivery.responses] == [500, 200]
    # The same delivery id both times: receivers can drop duplicates.
    ids = {r.headers["X-MetaQore-Delivery"] for r in receiver.requests}
    assert ids == {delivery.id}


def test_events_arrive_in_seq_order_behind_a_failing_one(live, hook, receiver):
    receiver.statuses = [503]
    declared = [live.declare(f"ordered-{i}").artifact.id for i in range(3)]
    run_worker()
    assert len(receiver.requests) == 1  # the others wait behind the failed first one
    make_due()
    run_worker()
    assert [d.status for d in deliveries(live, hook)] == ["delivered"] * 3
    bodies = [json.loads(r.body) for r in receiver.requests]
    assert [b["resource_id"] for b in bodies] == [declared[0], *declared]
    seqs = [b["seq"] for b in bodies[1:]]
    assert seqs == sorted(seqs)


def test_backoff_schedule():
    delays = [backoff_delay(n).total_seconds() for n in range(1, 10)]
    assert delays == [1, 4, 16, 64, 256, 1024, 3600, 3600, 3600]


def test_a_delivery_is_given_up_after_the_last_attempt_and_the_next_goes(
    live, hook, receiver, settings
):
    settings.METAQORE_WEBHOOK_MAX_ATTEMPTS = 2
    receiver.statuses = [500] * 2
    live.declare("doomed")
    live.declare("next")
    run_worker()
    make_due()
    run_worker()  # the 2nd attempt fails: given up, and the next one goes
    doomed, following = deliveries(live, hook)
    assert (doomed.status, doomed.attempts, doomed.next_attempt_at) == ("failed", 2, None)
    assert following.status == "delivered"
    assert jobs(hook) == [("failed", 2, doomed.id), ("succeeded", 1, following.id)]


def test_a_webhook_failing_for_24_hours_is_disabled_and_resumes_when_reactivated(
    live, hook, receiver
):
    receiver.statuses = [500, 500]
    live.declare("down")
    run_worker()
    day_ago = timezone.now() - timedelta(hours=24, minutes=1)
    in_live(live, lambda: Webhook.objects.filter(pk=hook.pk).update(failing_since=day_ago))
    make_due()
    run_worker()
    disabled = webhook(live, hook)
    assert not disabled.active and disabled.disabled_at is not None
    assert "HTTP 500" in disabled.disabled_reason
    event = in_live(
        live,
        lambda: AuditEvent.objects.get(event_type="webhook.disabled", resource_id=hook.pk),
    )
    assert event.actor == "system" and event.payload["pending_deliveries"] == 1
    # Disabled: nothing more is queued or sent.
    live.declare("while-down")
    make_due()
    run_worker()
    assert len(receiver.requests) == 2
    # Re-activated: the pending delivery, then the event it missed, in order.
    in_live(live, lambda: webhook_update(webhook=disabled, actor=ADMIN, changes={"active": True}))
    run_worker()
    bodies = [json.loads(r.body) for r in receiver.requests[2:]]
    assert [b["type"] for b in bodies] == ["artifact.declared"] * 2
    assert [b["seq"] for b in bodies] == sorted(b["seq"] for b in bodies)
    assert [d.status for d in deliveries(live, hook)] == ["delivered", "delivered"]


def test_a_success_clears_the_failure_clock(live, hook, receiver):
    receiver.statuses = [500]
    live.declare("flaky")
    run_worker()
    assert webhook(live, hook).failing_since is not None
    make_due()
    run_worker()
    assert webhook(live, hook).failing_since is None


def test_private_addresses_are_refused_at_delivery_time(live, hook, receiver, settings):
    settings.METAQORE_WEBHOOK_ALLOW_PRIVATE = False
    live.declare("guarded")
    run_worker()
    assert receiver.requests == []
    [delivery] = deliveries(live, hook)
    assert delivery.status == "pending" and delivery.last_status_code is None
    assert delivery.last_error.startswith("refused: 127.0.0.1 is a loopback address")


# --- the SSRF guard -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "gopher://example.com",
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://acme.localhost/hook",
        "http://[::1]/hook",
        "http://10.1.2.3/hook",
        "http://172.16.0.1/hook",
        "http://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://100.100.100.200/",
        "http://0.0.0.0/",
        "http://[::ffff:127.0.0.1]/",
        "http://user:password@example.com/hook",
        "http:///nohost",
        "http://[not-an-ip/",
    ],
)
def test_unsafe_urls_are_refused(url, settings):
    settings.METAQORE_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(UnsafeWebhookURL):
        webhook_url_check(url)


def test_allow_private_opens_private_addresses_but_never_metadata(settings):
    settings.METAQORE_WEBHOOK_ALLOW_PRIVATE = True
    assert webhook_url_check("http://127.0.0.1:9000/hook") == ["127.0.0.1"]
    assert webhook_url_check("http://10.0.0.7/hook") == ["10.0.0.7"]
    for url in ("http://169.254.169.254/", "http://[fd00:ec2::254]/", "ftp://127.0.0.1/"):
        with pytest.raises(UnsafeWebhookURL):
            webhook_url_check(url)


def test_names_are_checked_by_every_address_they_resolve_to(monkeypatch, settings):
    settings.METAQORE_WEBHOOK_ALLOW_PRIVATE = False

    def fake_getaddrinfo(host, port, *args, **kwargs):
        addresses = {
            "public.example": ["93.184.216.34"],
            "sneaky.example": ["93.184.216.34", "10.0.0.1"],
        }
        return [(2, 1, 6, "", (address, port)) for address in addresses[host]]

    monkeypatch.setattr("socket.getaddrinfo", fake_getaddrinfo)
    assert webhook_url_check("https://public.example/hook", resolve=True) == ["93.184.216.34"]
    assert webhook_url_check("https://sneaky.example/hook") == []  # not resolved when saving
    with pytest.raises(UnsafeWebhookURL, match="private"):
        webhook_url_check("https://sneaky.example/hook", resolve=True)


def test_a_delivery_locked_by_another_transaction_is_retried_not_dropped(live, hook, receiver):
    live.declare("contended")
    [delivery] = deliveries(live, hook)
    locked, release = threading.Event(), threading.Event()

    def hold_the_row():
        connection.set_tenant(live.organization)
        with transaction.atomic():
            WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
            locked.set()
            release.wait(10)

    holder = threading.Thread(target=lambda: committed(hold_the_row))
    holder.start()
    try:
        assert locked.wait(10)
        with pytest.raises(DeliveryBusy):
            committed(
                lambda: deliver_webhook.task(
                    org=live.organization.schema_name, delivery_id=delivery.pk
                )
            )
    finally:
        release.set()
        holder.join()
    assert receiver.requests == []
    decision = DeliveryRetry().get_retry_decision(
        exception=DeliveryBusy("x"),
        job=Job(id=1, queue="webhooks", lock=None, queueing_lock=None, task_name="t", attempts=9),
    )
    assert decision is not None and decision.retry_at > timezone.now()  # never given up
    run_worker()
    assert deliveries(live, hook)[0].status == "delivered"


def test_a_job_of_an_organization_that_is_gone_is_skipped(db):
    assert deliver_webhook.task(org="org_gone_long_ago", delivery_id="whd_x") is None
