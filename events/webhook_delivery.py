"""Delivering one webhook delivery: a signed JSON POST, its outcome recorded, the retry decided.

Each live event that matches an active webhook becomes a ``WebhookDelivery`` row and a job
(``events.tasks.deliver_webhook``), both written in the event's transaction: a rolled-back
change delivers nothing, a committed one is never lost. The job runs ``delivery_send``:

- success (2xx): the delivery is ``delivered``;
- failure (another status, a timeout, a refused address): the attempt is recorded and the job
  is retried after 1 s, 4 s, 16 s, … 1 h (``METAQORE_WEBHOOK_RETRY_SECONDS`` x 4^n), up to
  ``METAQORE_WEBHOOK_MAX_ATTEMPTS`` (10) attempts; then the delivery is ``failed`` and the job
  ends ``failed`` (the dead letters, retried from the dashboard's Jobs page);
- a webhook failing for 24 h is disabled (``webhook.disabled`` audit event); its deliveries
  wait, and are queued again (with the events missed meanwhile) when it is re-activated.

A webhook's jobs share one queue lock: they run one at a time, in seq order, and a later event
waits while an earlier one is retried. At least once: a worker killed after the POST and before
the commit sends it again, with the same ``X-MetaQore-Delivery`` id (receivers drop duplicates).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import httpx
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from procrastinate import BaseRetryStrategy, RetryDecision
from procrastinate.jobs import Job

from access.actors import Actor
from compliance.audit import audit_record
from compliance.chain import format_timestamp
from compliance.models import AuditChainHead, AuditEvent
from events.events import event_message
from events.models import Webhook, WebhookDelivery
from events.ssrf import WebhookError, webhook_url_check
from metaqore_site.governed import mark_audited

logger = logging.getLogger(__name__)

BACKOFF_FACTOR = 4
BACKOFF_MAX = 3600
DISABLE_AFTER = timedelta(hours=24)
WORKER = Actor(kind="system", name="webhook-worker")
USER_AGENT = f"MetaQore-Webhooks/{settings.VERSION}"


def max_attempts() -> int:
    return max(1, settings.METAQORE_WEBHOOK_MAX_ATTEMPTS)


def backoff_delay(attempts: int) -> timedelta:
    """Wait after the ``attempts``-th failed attempt: 1 s, 4 s, 16 s, 64 s, … capped at 1 h
    (the first wait is ``METAQORE_WEBHOOK_RETRY_SECONDS``)."""
    first = settings.METAQORE_WEBHOOK_RETRY_SECONDS
    return timedelta(seconds=min(first * BACKOFF_FACTOR ** (attempts - 1), BACKOFF_MAX))


def signature(secret: str, body: bytes) -> str:
    """``X-MetaQore-Signature``: ``sha256=`` + hex HMAC-SHA256 of the exact body bytes."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def delivery_body(event: AuditEvent) -> bytes:
    return json.dumps(event_message(event), ensure_ascii=False, separators=(",", ":")).encode()


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
    ][-max_attempts() :]
    if not error:
        delivery.status = WebhookDelivery.Status.DELIVERED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
        if webhook.failing_since is not None:
            Webhook.objects.filter(pk=webhook.pk).update(failing_since=None)
    else:
        if delivery.attempts >= max_attempts():
            delivery.status = WebhookDelivery.Status.FAILED
            delivery.next_attempt_at = None
        else:
            delivery.next_attempt_at = now + backoff_delay(delivery.attempts)
        if webhook.failing_since is None:
            webhook.failing_since = now
            Webhook.objects.filter(pk=webhook.pk).update(failing_since=now)
    delivery.save()
    return not error


def chain_head_seq() -> int:
    """The seq of the current org's last event (a webhook that stops receiving remembers it)."""
    return AuditChainHead.objects.filter(pk=1).values_list("seq", flat=True).first() or 0


def webhook_disable(*, webhook: Webhook, reason: str, actor: Actor | str = WORKER) -> None:
    """Deactivate a failing webhook (in the caller's transaction) and say so in the trail."""
    now = timezone.now()
    webhook.active = False
    webhook.disabled_at = now
    webhook.disabled_reason = reason[:300]
    webhook.last_seq = chain_head_seq()
    mark_audited(webhook).save(
        update_fields=["active", "disabled_at", "disabled_reason", "last_seq"]
    )
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


def http_client() -> httpx.Client:
    return httpx.Client(
        timeout=settings.METAQORE_WEBHOOK_TIMEOUT_SECONDS, follow_redirects=False, trust_env=False
    )


class DeliveryFailed(Exception):
    """The attempt failed; the job is retried at ``retry_at``."""

    def __init__(self, delivery_id: str, error: str, retry_at: datetime):
        super().__init__(f"{delivery_id}: {error}; next attempt at {format_timestamp(retry_at)}")
        self.retry_at = retry_at


class DeliveryGivenUp(Exception):
    """The last attempt failed: the delivery is ``failed`` and its job a dead letter."""


class DeliveryBusy(Exception):
    """Another transaction holds the delivery (a worker sending it, or the connection of a
    killed one that PostgreSQL has not dropped yet): look again shortly."""


BUSY_RETRY_SECONDS = 5


class DeliveryRetry(BaseRetryStrategy):
    """When the job of a failed attempt runs again: at the delivery's ``next_attempt_at``.
    Other errors (database unreachable, a bug) are retried on the same backoff, as long as
    attempts remain; then the job fails (a dead letter, its delivery still pending)."""

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if isinstance(exception, DeliveryGivenUp):
            return None
        if isinstance(exception, DeliveryFailed):
            return RetryDecision(retry_at=exception.retry_at)
        if isinstance(exception, DeliveryBusy):
            return RetryDecision(retry_at=timezone.now() + timedelta(seconds=BUSY_RETRY_SECONDS))
        runs = job.attempts + 1
        if runs >= max_attempts():
            return None
        return RetryDecision(retry_at=timezone.now() + backoff_delay(runs))


def delivery_send(delivery_id: str) -> str:
    """One attempt at a delivery (the job's body), in the current org's schema. Returns what
    happened; raises ``DeliveryFailed`` (retry) or ``DeliveryGivenUp`` after committing the
    attempt's record. A delivered, deleted or inactive webhook's delivery is left as it is."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("webhook")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None:
            if WebhookDelivery.objects.filter(pk=delivery_id).exists():
                raise DeliveryBusy(f"{delivery_id} is locked by another transaction")
            return "gone (webhook deleted)"
        if delivery.status == WebhookDelivery.Status.DELIVERED:
            return "already delivered"
        webhook = delivery.webhook
        if not webhook.active:
            return "webhook inactive: waits for its re-activation"
        with http_client() as client:
            if _attempt(client, webhook, delivery):
                return "delivered"
        assert webhook.failing_since is not None  # set by the failed _attempt()
        disabled = timezone.now() - webhook.failing_since >= DISABLE_AFTER
        if disabled:
            webhook_disable(
                webhook=webhook,
                reason=(
                    f"failing since {format_timestamp(webhook.failing_since)}: "
                    f"{delivery.last_error}"
                ),
            )
    if disabled:
        return "failed; webhook disabled"
    if delivery.status == WebhookDelivery.Status.FAILED:
        raise DeliveryGivenUp(
            f"{delivery.id}: {delivery.last_error} (attempt {delivery.attempts}, the last)"
        )
    assert delivery.next_attempt_at is not None
    raise DeliveryFailed(delivery.id, delivery.last_error, delivery.next_attempt_at)
