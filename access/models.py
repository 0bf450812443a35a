"""Who may call an organization's API: its agents and their keys (the org's schema).

The tables keep the names they had when these models lived in ``governance``.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Agent(models.Model):
    """An automated worker known to the org; it authenticates with API keys."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "governance_agent"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AgentKey(models.Model):
    """An API key of an agent. Only a SHA-256 of the key is stored; the key is shown once.

    Keys carry 256 bits of randomness, so a fast hash is safe here (no password stretching
    needed); ``prefix`` finds the row and the hashes are compared in constant time.
    """

    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="keys")
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    is_privileged = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=200, default="system")
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "governance_agentkey"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.agent.name})"

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()


class IdempotencyRecord(models.Model):
    """The first response to a POST sent with an ``Idempotency-Key`` header (24 hours).

    A repeat of the same request with the same key and credential gets this response back
    instead of acting twice (an agent retrying a declaration after a timeout never creates two
    artifacts). ``credential`` is a SHA-256 of the credential, never the credential itself.
    """

    credential = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField()
    headers = models.JSONField(default=dict)
    body = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["credential", "key"], name="idempotency_unique_key")
        ]
        indexes = [models.Index(fields=["credential", "created_at"], name="idempotency_age")]

    def __str__(self) -> str:
        return f"{self.key} ({self.status})"
