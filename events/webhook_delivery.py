"""Delivering webhooks: the outbox (the audit trail) → one delivery row per event and webhook
→ a signed JSON POST, at least once, in seq order, with exponential backoff.

One pass (``webhooks_run_once``), for each active webhook of each organization:

1. enqueue: the webhook's cursor (``last_seq``) moves over the new live events of the audit
   trail; each one matching its patterns becomes a pending ``WebhookDelivery`` (unique per
   webhook and seq, so a pass that crashes half-way enqueues nothing twice);
2. deliver: the oldest pending delivery is POSTed; on success the next one follows, on
   failure it is retried after 1 s, 4 s, 16 s, … 1 h (10 attempts at most, then it is marked
   failed and the next one goes). Later deliveries wait behind a failing one: the receiver
   sees events in seq order. A webhook that has been failing for 24 h is disabled, and a
   ``webhook.disabled`` audit event says so.

Each attempt runs in its own short transaction holding the webhook's row lock (``SKIP
LOCKED``), so several workers can run side by side without sending one event twice at once.
Receivers must still expect duplicates (a crash after the POST and before the commit): the
``X-MetaQore-Delivery`` id is stable across retries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import httpx
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from access.actors import Actor
from compliance.audit import audit_record
from compliance.chain import format_timestamp
from compliance.models import AuditEvent
from events.events import EventFilter, event_message, streamed_events_after
from events.models import Webhook, WebhookDelivery
from events.webhooks import WebhookError, webhook_url_check
from metaqore_site.governed import mark_audited
from tenants.models import Organization

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
BACKOFF_FIRST = 1  # seconds before the 2nd attempt
BACKOFF_FACTOR = 4
BACKOFF_MAX = 3600
DISABLE_AFTER = timedelta(hours=24)
ENQUEUE_BATCHES = 10  # read at most this many batches of events per webhook and pass
DELIVERIES_PER_PASS = 100  # per webhook
WORKER = Actor(kind="system", name="webhook-worker")
USER_AGENT = f"MetaQore-Webhooks/{settings.VERSION}"


def backoff_delay(attempts: int) -> timedelta:
    """Wait after the ``attempts``-th failed attempt: 1 s, 4 s, 16 s, 64 s, … capped at 1 h."""
    return timedelta(seconds=min(BACKOFF_FIRST * BACKOFF_FACTOR ** (attempts - 1), BACKOFF_MAX))


def signature(secret: str, body: bytes) -> str:
    """``X-MetaQore-Signature``: ``sha256=`` + hex HMAC-SHA256 of the exact body bytes."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def delivery_body(event: AuditEvent) -> bytes:
    return json.dumps(event_message(event), ensure_ascii=False, separators=(",", ":")).encode()


@dataclass
class PassResult:
    enqueued: int = 0
    delivered: int = 0
    failed_attempts: int = 0
    disabled: int = 0

    def add(self, other: PassResult) -> None:
        self.enqueued += other.enqueued
        self.delivered += other.delivered
        self.failed_attempts += other.failed_attempts
        self.disabled += other.disabled


def _locked_webhook(webhook_id: str) -> Webhook | None:
    return (
        Webhook.objects.select_for_update(skip_locked=True)
        .filter(pk=webhook_id, active=True)
        .first()
    )


def deliveries_enqueue(webhook_id: str) -> int:
    """Queue the live events after the webhook's cursor that match its patterns."""
    queued = 0
    for _ in range(ENQUEUE_BATCHES):
        with transaction.atomic():
            webhook = _locked_webhook(webhook_id)
            if webhook is None:
                return queued
            batch = streamed_events_after(
                webhook.last_seq, EventFilter(event_types=tuple(webhook.event_types))
            )
            WebhookDelivery.objects.bulk_create(
                [
                    WebhookDelivery(
                        webhook=webhook,
                        event_seq=event["seq"],
                        event_id=event["id"],
                        event_type=event["type"],
                    )
                    for event in batch.events
                ],
                ignore_conflicts=True,
            )
            if batch.cursor != webhook.last_seq:
                Webhook.objects.filter(pk=webhook.pk).update(last_seq=batch.cursor)
            queued += len(batch.events)
        if not batch.more:
            break
    return queued


def _post(client: httpx.Client, url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST to a checked address of ``url``'s host (never one resolved again behind the
    guard's back); the Host header and TLS server name stay the URL's."""
    address = webhook_url_check(url, resolve=True)[0]
    parts = urlsplit(url)
    host = f"[{address}]" if ":" in address else address
    netloc = f"{host}:{parts.port}" if parts.port else host
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
    response = client.post(
        pinned, content=body, headers={**headers, "Host": parts.netloc}, extensions=extensions
    )
    return response.status_code


def _attempt(client: httpx.Client, webhook: Webhook, delivery: WebhookDelivery) -> bool:
    """One POST of ``delivery``; records the outcome on the delivery (and the webhook)."""
    event = AuditEvent.objects.filter(seq=delivery.event_seq).first()
    assert event is not None  # the trail is append-only: a delivery's event stays
    body = delivery_body(event)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-MetaQore-Event": delivery.event_type,
        "X-MetaQore-Delivery": delivery.id,
        "X-MetaQore-Signature": signature(webhook.secret, body),
    }
    started = time.perf_counter()
    status_code, error = None, ""
    try:
        status_code = _post(client, webhook.url, body, headers)
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
    except WebhookError as exc:
        error = f"refused: {exc}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__
    now = timezone.now()
    delivery.attempts += 1
    delivery.last_status_code = status_code
    delivery.last_error = error[:500]
    delivery.responses = [
        *delivery.responses,
        {
            "attempt": delivery.attempts,
            "at": format_timestamp(now),
            "status_code": status_code,
            "error": error[:500],
            "duration_ms": round((time.perf_counter() - started) * 1000),
        },
    ][-MAX_ATTEMPTS:]
    if not error:
        delivery.status = WebhookDelivery.Status.DELIVERED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
        if webhook.failing_since is not None:
            Webhook.objects.filter(pk=webhook.pk).update(failing_since=None)
    else:
        if delivery.attempts >= MAX_ATTEMPTS:
            delivery.status = WebhookDelivery.Status.FAILED
            delivery.next_attempt_at = None
        else:
            delivery.next_attempt_at = now + backoff_delay(delivery.attempts)
        if webhook.failing_since is None:
            webhook.failing_since = now
            Webhook.objects.filter(pk=webhook.pk).update(failing_since=now)
    delivery.save()
    return not error


def webhook_disable(*, webhook: Webhook, reason: str, actor: Actor | str = WORKER) -> None:
    """Deactivate a failing webhook (in the caller's transaction) and say so in the trail."""
    now = timezone.now()
    webhook.active = False
    webhook.disabled_at = now
    webhook.disabled_reason = reason[:300]
    mark_audited(webhook).save(update_fields=["active", "disabled_at", "disabled_reason"])
    audit_record(
        event_type="webhook.disabled",
        actor=actor,
        resource_type="webhook",
        resource_id=webhook.id,
        payload={
            "url": webhook.url,
            "reason": webhook.disabled_reason,
            "failing_since": webhook.failing_since,
            "pending_deliveries": webhook.deliveries.filter(
                status=WebhookDelivery.Status.PENDING
            ).count(),
        },
    )


def deliveries_send(webhook_id: str, client: httpx.Client) -> PassResult:
    """Send the webhook's due deliveries in seq order, until one fails or none is due."""
    result = PassResult()
    for _ in range(DELIVERIES_PER_PASS):
        with transaction.atomic():
            webhook = _locked_webhook(webhook_id)
            if webhook is None:
                break
            delivery = (
                webhook.deliveries.filter(status=WebhookDelivery.Status.PENDING)
                .order_by("event_seq")
                .first()
            )
            if delivery is None:
                break
            if delivery.next_attempt_at and delivery.next_attempt_at > timezone.now():
                break  # the oldest waits for its retry, and the others behind it
            if _attempt(client, webhook, delivery):
                result.delivered += 1
                continue
            result.failed_attempts += 1
            assert webhook.failing_since is not None  # set by the failed _attempt()
            if timezone.now() - webhook.failing_since >= DISABLE_AFTER:
                webhook_disable(
                    webhook=webhook,
                    reason=(
                        f"failing since {format_timestamp(webhook.failing_since)}: "
                        f"{delivery.last_error}"
                    ),
                )
                result.disabled += 1
            break
    return result


def http_client() -> httpx.Client:
    return httpx.Client(
        timeout=settings.METAQORE_WEBHOOK_TIMEOUT_SECONDS, follow_redirects=False, trust_env=False
    )


def webhooks_run_once(*, organizations: list[str] | None = None) -> PassResult:
    """One pass over every active webhook of every organization (or of ``organizations``)."""
    orgs = Organization.objects.order_by("slug")
    if organizations is not None:
        orgs = orgs.filter(slug__in=organizations)
    result = PassResult()
    with http_client() as client:
        for schema in orgs.values_list("schema_name", flat=True):
            with schema_context(schema):
                for webhook_id in Webhook.objects.filter(active=True).values_list("pk", flat=True):
                    try:
                        result.enqueued += deliveries_enqueue(webhook_id)
                        result.add(deliveries_send(webhook_id, client))
                    except Exception:  # one broken webhook must not stop the others
                        logger.exception("Webhook %s in %s failed", webhook_id, schema)
    return result
