"""Who may call an organization's API: its agents and their keys (the org's schema).

The tables keep the names they had when these models lived in ``governance``.
"""

from __future__ import annotations

import math
from datetime import datetime

import pgtrigger
from django.db import models
from django.utils import timezone

from metaqore_site.governed import GovernedManager, bookkeeping, governed
from metaqore_site.resolution_cache import notify_sql

# Processes cache the keys they authenticated (metaqore_site.resolution_cache): any change of
# what authentication reads announces itself on commit. ``last_used_at`` is not among them.
_KEY_CHANGED = notify_sql("'key:' || TG_TABLE_SCHEMA")


class Agent(models.Model):
    """An automated worker known to the org; it authenticates with API keys."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = GovernedManager()

    class Meta:
        db_table = "governance_agent"
        ordering = ["name"]
        triggers = [
            pgtrigger.Trigger(
                name="agent_cache_notify",
                level=pgtrigger.Statement,
                when=pgtrigger.After,
                operation=pgtrigger.Delete | pgtrigger.UpdateOf("name") | pgtrigger.Truncate,
                func=_KEY_CHANGED,
            )
        ]

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

    objects = GovernedManager()

    class Meta:
        db_table = "governance_agentkey"
        ordering = ["-created_at"]
        triggers = [
            pgtrigger.Trigger(
                name="agent_key_cache_notify",
                level=pgtrigger.Statement,
                when=pgtrigger.After,
                operation=(
                    pgtrigger.Insert
                    | pgtrigger.Delete
                    | pgtrigger.Truncate
                    | pgtrigger.UpdateOf(
                        "agent_id",
                        "prefix",
                        "key_hash",
                        "is_privileged",
                        "expires_at",
                        "revoked_at",
                    )
                ),
                func=_KEY_CHANGED,
            )
        ]

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
    # False: the response held a secret shown once (Cache-Control: no-store), so only the fact
    # that the request ran is kept, never the response.
    replayable = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["credential", "key"], name="idempotency_unique_key")
        ]
        indexes = [models.Index(fields=["credential", "created_at"], name="idempotency_age")]

    def __str__(self) -> str:
        return f"{self.key} ({self.status})"


class LoginLockout(models.Model):
    """Failed password logins of one account of the org, and its lockout (access.lockout).

    ``failures`` counts recent failures (reset after a quiet window, a lockout or a success);
    ``lockouts`` counts lockouts since the last successful login: each one lasts twice as long
    as the one before (backoff). A successful login or an org admin's unlock deletes the row.
    """

    username = models.CharField(max_length=150, unique=True)
    failures = models.PositiveIntegerField(default=0)
    lockouts = models.PositiveIntegerField(default=0)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["username"]

    def __str__(self) -> str:
        return f"{self.username}: {self.failures} failures, locked until {self.locked_until}"

    def seconds_locked(self, now: datetime) -> int:
        """Seconds until the lockout ends (0 when not locked)."""
        if self.locked_until is None or self.locked_until <= now:
            return 0
        return max(1, math.ceil((self.locked_until - now).total_seconds()))


# Governed tables (metaqore_site.governed). Django's own models of an org's schema are
# classified here, at the bottom of the apps, by label.
governed(Agent, service="access.keys.agent_key_create")
governed(
    AgentKey,
    service="access.keys (agent_key_create/agent_key_revoke)",
    bookkeeping_columns={"last_used_at": "stamped by authentication at most once a minute"},
)
governed(
    "auth.User",
    service="access.users (user_create/user_update/user_set_password/user_delete)",
    bookkeeping_columns={"last_login": "stamped by Django on every sign-in (see auth.login)"},
)
governed("auth.Group", service="tenants.services.organization_ensure_roles (roles are fixed)")
governed("auth.User_groups", service="access.users (roles_set/role_grant/role_revoke)")
governed("auth.User_user_permissions", service="access.users.permissions_set")
governed(
    "auth.Group_permissions",
    service="access.role_permissions.role_permissions_sync (derived from the role table)",
)
bookkeeping(
    "auth.Permission", reason="Django's catalog of permission names, derived from the models"
)
bookkeeping("contenttypes.ContentType", reason="Django's catalog of models (derived)")
bookkeeping("sessions.Session", reason="who is signed in; sign-ins are audited as auth.login")
bookkeeping("admin.LogEntry", reason="Django admin's own history; the audit trail is compliance's")
bookkeeping(
    IdempotencyRecord,
    reason="first responses of POSTs sent with an Idempotency-Key (kept 24 hours)",
)
bookkeeping(
    LoginLockout,
    reason="failed-login counters of access.lockout; lockouts and unlocks are audited",
)
