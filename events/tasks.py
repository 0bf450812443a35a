"""Webhook delivery jobs: queued in the transaction of the event that causes them, run by the
worker (``manage.py run_worker``); see ``events.webhook_delivery`` for what one job does."""

from __future__ import annotations

import orjson

from compliance.models import AuditEvent
from events.events import EventFilter, streamed_events_after
from events.models import Webhook, WebhookDelivery
from events.webhook_delivery import DeliveryRetry, chain_head_seq, delivery_send
from jobs.queue import current_org_schema, enqueue, org_task

QUEUE = "webhooks"


@org_task(name="events.deliver_webhook", queue=QUEUE, retry=DeliveryRetry())
def deliver_webhook(*, delivery_id: str) -> str:
    return delivery_send(delivery_id)


def webhook_lock(schema: str, webhook_id: str) -> str:
    """One webhook's jobs share this lock: one at a time, in the order they were queued."""
    return f"webhook:{schema}:{webhook_id}"


def deliveries_enqueue(deliveries: list[WebhookDelivery]) -> None:
    """One job per delivery, in the caller's transaction, behind the webhook's earlier ones."""
    schema = current_org_schema()
    for delivery in deliveries:
        enqueue(
            deliver_webhook,
            org=schema,
            lock=webhook_lock(schema, delivery.webhook_id),
            delivery_id=delivery.id,
        )


_WEBHOOK_TABLE = Webhook._meta.db_table
# Read in the statement that appends each event (compliance.audit.on_audit_event): its active
# webhooks as JSON text, [[id, event_types], ...] in creation order.
ACTIVE_WEBHOOKS_SQL = (
    "SELECT coalesce(json_agg(json_build_array(id, event_types) ORDER BY created_at), "  # noqa: S608
    f"'[]')::text FROM \"{_WEBHOOK_TABLE}\" WHERE active"
)


def deliveries_queue(event: AuditEvent, active_webhooks: str) -> int:
    """For a live event just appended (``compliance.audit.on_audit_event`` with
    ``applies=is_streamed``, so in its transaction, with ``ACTIVE_WEBHOOKS_SQL`` read in the
    append's statement): one delivery and one job per active webhook whose patterns match."""
    matching = [
        webhook_id
        for webhook_id, event_types in orjson.loads(active_webhooks)
        if EventFilter(event_types=tuple(event_types)).matches(event.event_type)
    ]
    if not matching:
        return 0
    deliveries = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                webhook_id=webhook_id,
                event_seq=event.seq,
                event_id=event.id,
                event_type=event.event_type,
            )
            for webhook_id in matching
        ]
    )
    deliveries_enqueue(deliveries)
    return len(deliveries)


def deliveries_requeue(webhook: Webhook) -> int:
    """A webhook is active again (in the caller's transaction): the events it missed since it
    stopped (``last_seq``) become deliveries, and every pending delivery is queued again, in
    seq order. Returns the number of jobs queued."""
    cursor = webhook.last_seq
    event_filter = EventFilter(event_types=tuple(webhook.event_types))
    while True:
        batch = streamed_events_after(cursor, event_filter)
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
            ignore_conflicts=True,  # already a delivery (pending from before)
        )
        cursor = batch.cursor
        if not batch.more:
            break
    Webhook.objects.filter(pk=webhook.pk).update(last_seq=max(cursor, chain_head_seq()))
    pending = list(
        webhook.deliveries.filter(status=WebhookDelivery.Status.PENDING).order_by("event_seq")
    )
    deliveries_enqueue(pending)
    return len(pending)
