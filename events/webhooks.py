"""Webhooks: the write path for an org's subscriptions (the SSRF guard is ``events.ssrf``).

Delivery (jobs, retries, signatures) is in ``events.webhook_delivery`` and ``events.tasks``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from django.db import transaction

from access.actors import Actor
from compliance.audit import audit_for, audit_record
from events.events import EventFilterError, parse_globs
from events.models import Webhook, WebhookDelivery
from events.ssrf import WebhookError, webhook_url_check
from events.tasks import deliveries_enqueue, deliveries_requeue
from events.webhook_delivery import chain_head_seq
from metaqore_site.governed import mark_audited

AUDITED_FIELDS = ("url", "event_types", "active", "description")


def _globs(event_types: Iterable) -> list[str]:
    try:
        return list(parse_globs(event_types))
    except EventFilterError as exc:
        raise WebhookError(str(exc), field="event_types") from None


def _snapshot(webhook: Webhook) -> dict:
    return {name: getattr(webhook, name) for name in AUDITED_FIELDS}


@transaction.atomic
def webhook_create(
    *,
    actor: Actor | str,
    url: str,
    event_types: Iterable[str] = (),
    secret: str = "",
    active: bool = True,
    description: str = "",
) -> Webhook:
    """A new webhook; it receives events committed from now on. The secret is generated when
    not given (the caller shows it once)."""
    webhook_url_check(url)
    webhook = Webhook(
        url=url,
        event_types=_globs(event_types),
        secret=secret or secrets.token_urlsafe(32),
        active=active,
        description=description,
        created_by=str(actor),
        last_seq=chain_head_seq(),
    )
    mark_audited(webhook).save(force_insert=True)
    audit_for("webhook.created", webhook, actor=actor, payload={"after": _snapshot(webhook)})
    return webhook


@transaction.atomic
def webhook_update(*, webhook: Webhook, actor: Actor | str, changes: dict) -> Webhook:
    """Change url, event_types, secret, active or description. Re-activating a webhook clears
    its failure state and queues its pending deliveries and the events that arrived meanwhile
    (in this transaction)."""
    webhook = Webhook.objects.select_for_update().get(pk=webhook.pk)
    before = _snapshot(webhook)
    if "url" in changes:
        webhook_url_check(changes["url"])
        webhook.url = changes["url"]
    if "event_types" in changes:
        webhook.event_types = _globs(changes["event_types"])
    if "description" in changes:
        webhook.description = changes["description"]
    secret_changed = bool(changes.get("secret")) and changes["secret"] != webhook.secret
    if secret_changed:
        webhook.secret = changes["secret"]
    reactivated = False
    if "active" in changes and changes["active"] != webhook.active:
        webhook.active = changes["active"]
        if webhook.active:
            webhook.failing_since = None
            webhook.disabled_at = None
            webhook.disabled_reason = ""
            reactivated = True
        else:
            webhook.last_seq = chain_head_seq()  # where it resumes when re-activated
    after = _snapshot(webhook)
    changed = [name for name in AUDITED_FIELDS if before[name] != after[name]]
    if not changed and not secret_changed:
        return webhook
    mark_audited(webhook).save()
    payload: dict[str, Any] = {
        "before": {name: before[name] for name in changed},
        "after": {name: after[name] for name in changed},
    }
    if secret_changed:
        payload["secret_changed"] = True
    audit_for("webhook.updated", webhook, actor=actor, payload=payload)
    if reactivated:
        deliveries_requeue(webhook)
    return webhook


@transaction.atomic
def webhook_delete(*, webhook: Webhook, actor: Actor | str) -> None:
    snapshot = _snapshot(webhook)
    audit_for("webhook.deleted", webhook, actor=actor, payload={"before": snapshot})
    mark_audited(webhook).delete()


@transaction.atomic
def webhook_test_send(*, webhook: Webhook, actor: Actor | str) -> WebhookDelivery:
    """Queue a ``webhook.test`` event for this one webhook, whatever its patterns: the event
    is recorded in the trail (who asked) and its delivery row is created in the same
    transaction, so the worker POSTs it like any other (signed, retried, in the log)."""
    webhook = Webhook.objects.select_for_update().get(pk=webhook.pk)
    if not webhook.active:
        raise WebhookError("The webhook is paused: resume it to send a test event.", "active")
    event = audit_record(
        event_type="webhook.test",
        actor=actor,
        resource_type="webhook",
        resource_id=webhook.id,
        payload={"url": webhook.url, "message": "A test event from MetaQore."},
    )
    delivery = WebhookDelivery.objects.create(
        webhook=webhook, event_seq=event.seq, event_id=event.id, event_type=event.event_type
    )
    deliveries_enqueue([delivery])
    return delivery
