"""Webhooks of an organization (its own schema) and the deliveries of events to them."""

from __future__ import annotations

from django.db import models

from metaqore_site.governed import GovernedManager, bookkeeping, governed
from metaqore_site.ids import public_id


def new_webhook_id() -> str:
    return public_id("whk")


def new_delivery_id() -> str:
    return public_id("whd")


class Webhook(models.Model):
    """An org's subscriber: live events matching ``event_types`` are POSTed to ``url``.

    ``last_seq`` is where it stopped receiving (created, paused, disabled): when it is
    re-activated, the live events after it are queued as deliveries. ``failing_since`` is the
    first failure since the last success; a webhook failing for 24 h is disabled
    (``webhook.disabled`` event).
    """

    id = models.CharField(primary_key=True, max_length=32, default=new_webhook_id, editable=False)
    url = models.URLField(max_length=2000)
    secret = models.CharField(max_length=200)
    event_types = models.JSONField(default=list, blank=True)  # globs; empty = every live event
    active = models.BooleanField(default=True)
    description = models.CharField(max_length=200, blank=True)
    created_by = models.CharField(max_length=220, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_seq = models.BigIntegerField(default=0)
    failing_since = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True)

    objects = GovernedManager()

    class Meta:
        db_table = "compliance_webhook"  # the tables keep the names they had in compliance
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.id} → {self.url}"

    def audit_target(self) -> dict[str, str]:
        return {"resource_type": "webhook", "resource_id": self.id}


class WebhookDelivery(models.Model):
    """One event for one webhook: its attempts, last status code and next retry."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"  # gave up after the maximum number of attempts

    id = models.CharField(primary_key=True, max_length=32, default=new_delivery_id, editable=False)
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event_seq = models.BigIntegerField()
    event_id = models.CharField(max_length=32)
    event_type = models.CharField(max_length=100)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    responses = models.JSONField(default=list, blank=True)  # one entry per attempt
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "compliance_webhookdelivery"
        ordering = ["-event_seq"]
        constraints = [
            models.UniqueConstraint(fields=["webhook", "event_seq"], name="webhook_delivery_once")
        ]
        indexes = [
            models.Index(fields=["webhook", "status", "event_seq"], name="webhook_delivery_queue"),
        ]

    def __str__(self) -> str:
        return f"{self.id} #{self.event_seq} {self.status}"


# Governed tables (metaqore_site.governed; the guard: events' govern_table migration).
governed(
    Webhook,
    service="events.webhooks (webhook_create/webhook_update/webhook_delete)",
    bookkeeping_columns={
        "last_seq": "where a paused webhook stopped: events after it are queued on resume",
        "failing_since": "delivery health, set and cleared by the delivery worker",
    },
)
bookkeeping(
    WebhookDelivery,
    reason="the delivery outbox and its attempt log (a copy of audit events being sent)",
)
