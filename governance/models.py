"""Governance models of an organization (its own schema)."""

from __future__ import annotations

import functools
from typing import Any, ClassVar, Self

import pgtrigger
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.utils import timezone

from access.actors import SYSTEM
from compliance.audit import audit_record
from compliance.chain import normalize_payload
from metaqore_site.compiled_query import CompiledQuery
from metaqore_site.governed import GovernedManager, governed, governed_writes
from metaqore_site.ids import public_id
from metaqore_site.resolution_cache import notify_sql


class SingletonPolicy(models.Model):
    """A per-org policy: one row per schema (pk is always 1), its revision bumped on each
    change, created by a data migration in every org."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    revision = models.PositiveIntegerField(default=1, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=200, default="system", editable=False)

    # Each concrete policy's default manager: bulk writes only inside governed_writes.
    objects: ClassVar[models.Manager[Self]] = GovernedManager()

    class Meta:
        abstract = True

    @classmethod
    def default_values(cls) -> dict[str, Any]:
        return {}

    @classmethod
    @functools.cache
    def _row(cls) -> CompiledQuery:
        """The one row, compiled once per policy class: every declaration reads it."""
        return CompiledQuery(lambda: cls.objects.filter(pk=1)[:1])

    @classmethod
    def load(cls, *, for_update: bool = False) -> Self:
        if for_update:
            policy = cls.objects.select_for_update().filter(pk=1).first()
        else:
            policy = cls._row().first()
        if policy is None:
            # The migration's row is gone (deleted through an audited path): recreate the
            # defaults as a governed change of its own, without firing the audit receivers.
            with transaction.atomic(), governed_writes(SYSTEM):
                created = cls.objects.bulk_create(
                    [cls(pk=1, **cls.default_values())], ignore_conflicts=True
                )
                audit_record(
                    event_type="policy.defaults_restored",
                    actor=SYSTEM,
                    resource_type=cls._meta.model_name or "",
                    resource_id="1",
                    payload={
                        "after": normalize_payload(cls.default_values()),
                        "rows": len(created),
                    },
                )
            queryset = cls.objects.select_for_update() if for_update else cls.objects
            policy = queryset.get(pk=1)
        return policy


class GovernancePolicy(SingletonPolicy):
    """The org's governance policy: one row per schema (pk is always 1)."""

    class Mode(models.TextChoices):
        STRICT = "strict"
        ADAPTIVE = "adaptive"
        PLAYGROUND = "playground"

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)

    class RoutingPolicy(models.TextChoices):
        DEFAULT_LOCAL_FIRST = "default_local_first"
        ENTERPRISE_RESIDENCY = "enterprise_residency"
        COMPLIANCE_LOCAL_ONLY = "compliance_local_only"

    mode = models.CharField(max_length=20, choices=Mode.choices, default=Mode.STRICT)
    auto_archive_superseded = models.BooleanField(default=True)
    routing_policy = models.CharField(
        max_length=30, choices=RoutingPolicy.choices, default=RoutingPolicy.DEFAULT_LOCAL_FIRST
    )
    # Ordered rules (governance.rules): the first that matches a conflict decides its action;
    # with none, ``mode`` decides.
    rules = models.JSONField(default=list, blank=True)
    max_waiver_days = models.PositiveSmallIntegerField(
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
        help_text="How far ahead a waiver may expire.",
    )
    audit_retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Audit events older than this are archived to METAQORE_ARCHIVE_DIR and "
        "removed (compliance.retention); empty keeps them forever.",
    )

    class Meta:
        verbose_name_plural = "governance policy"
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="governance_policy_singleton")
        ]
        # Processes cache the mode for the response header (governance.middleware): a change
        # announces itself on commit (metaqore_site.resolution_cache).
        triggers = [
            pgtrigger.Trigger(
                name="policy_cache_notify",
                level=pgtrigger.Statement,
                when=pgtrigger.After,
                operation=pgtrigger.Insert
                | pgtrigger.Update
                | pgtrigger.Delete
                | pgtrigger.Truncate,
                func=notify_sql("'policy:' || TG_TABLE_SCHEMA"),
            )
        ]

    def __str__(self) -> str:
        return f"Governance policy (mode {self.mode}, revision {self.revision})"


class Provider(models.Model):
    """A model provider agents may send work to (local: on-prem gateway, Ollama; cloud)."""

    class Kind(models.TextChoices):
        LOCAL = "local"
        CLOUD = "cloud"

    name = models.SlugField(max_length=100, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    available = models.BooleanField(default=True)
    latency_ms = models.PositiveIntegerField(default=0)
    capacity_score = models.FloatField(default=1.0)
    priority = models.PositiveIntegerField(default=100, help_text="Lower is tried first.")
    updated_at = models.DateTimeField(auto_now=True)

    objects = GovernedManager()

    class Meta:
        ordering = ["priority", "name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(capacity_score__gte=0) & models.Q(capacity_score__lte=1),
                name="provider_capacity_0_1",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    def audit_target(self) -> dict[str, str]:
        return {"resource_type": "provider", "resource_id": self.name, "provider": self.name}


class PolicyRevision(models.Model):
    """Each revision of the governance policy as it was saved: who, when, what changed, and the
    whole policy (restoring revision n saves its snapshot as a new revision)."""

    number = models.PositiveIntegerField(primary_key=True)
    snapshot = models.JSONField()
    changes = models.JSONField(default=dict, blank=True)
    created_by = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)
    restored_from = models.PositiveIntegerField(null=True, blank=True)

    objects = GovernedManager()

    class Meta:
        ordering = ["-number"]
        triggers = [
            pgtrigger.Protect(
                name="policy_revision_append_only",
                operation=pgtrigger.Update | pgtrigger.Delete,
            )
        ]

    def __str__(self) -> str:
        return f"Policy revision {self.number}"

    def audit_target(self) -> dict[str, str]:
        return {"resource_type": "governance_policy", "resource_id": "1"}


def new_waiver_id() -> str:
    return public_id("wvr")


def new_decision_id() -> str:
    return public_id("adm")


class Waiver(models.Model):
    """A narrow, dated exception: conflicts that match are resolved as ``waived`` before any
    rule applies, until ``expires_at`` or revocation."""

    id = models.CharField(primary_key=True, max_length=32, default=new_waiver_id, editable=False)
    match = models.JSONField()
    justification = models.TextField(max_length=5000)
    expires_at = models.DateTimeField()
    created_by = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.CharField(max_length=200, blank=True)
    revoke_reason = models.TextField(max_length=5000, blank=True)
    # Bookkeeping: how often it was applied, and whether its expiry was recorded in the trail.
    use_count = models.PositiveIntegerField(default=0)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expiry_recorded = models.BooleanField(default=False)

    objects = GovernedManager()

    class Meta:
        ordering = ["expires_at", "id"]
        indexes = [
            models.Index(fields=["expires_at"], name="waiver_expires_at"),
            models.Index(fields=["created_at"], name="waiver_created_at"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("created_at")),
                name="waiver_expires_after_creation",
            )
        ]

    def __str__(self) -> str:
        return f"Waiver {self.id} (until {self.expires_at:%Y-%m-%d %H:%M})"

    def in_force_at(self, when) -> bool:
        revoked = self.revoked_at is not None and self.revoked_at <= when
        return self.created_at <= when < self.expires_at and not revoked

    def status_at(self, when) -> str:
        if self.revoked_at is not None and self.revoked_at <= when:
            return "revoked"
        if when >= self.expires_at:
            return "expired"
        return "active"

    def audit_target(self) -> dict[str, str]:
        return {"resource_type": "waiver", "resource_id": self.id}


class AdmissionDecision(models.Model):
    """The decision on one declaration (or draft update): its inputs, the policy revision that
    decided it, each conflict's rule and action, and the outcome. Append-only; a simulation
    replays these under a proposed policy."""

    class Kind(models.TextChoices):
        DECLARE = "declare"
        UPDATE = "update"

    id = models.CharField(primary_key=True, max_length=32, default=new_decision_id, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.DECLARE)
    actor = models.CharField(max_length=200)
    actor_privileged = models.BooleanField(default=False)
    project_id = models.CharField(max_length=32)
    artifact_id = models.CharField(max_length=32)
    artifact_type = models.CharField(max_length=100)
    agent = models.CharField(max_length=200, help_text="Who declared the artifact.")
    file_paths = models.JSONField(default=list, blank=True)
    policy_revision = models.PositiveIntegerField()
    mode = models.CharField(max_length=20)
    # [{conflict_id, conflict_type, severity, paths (the conflict's own, else file_paths),
    #   details, rule_id, action, waiver_id}]
    conflicts = models.JSONField(default=list, blank=True)
    rule_ids = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    outcome = models.CharField(max_length=30)
    held = models.BooleanField(
        default=False, help_text="Kept blocked by an escalated conflict, whatever the rules say."
    )

    objects = GovernedManager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="decision_newest"),
            models.Index(fields=["project_id", "-created_at"], name="decision_project_newest"),
            models.Index(fields=["outcome", "-created_at"], name="decision_outcome_newest"),
            GinIndex(fields=["rule_ids"], name="decision_rule_ids_gin"),
        ]
        triggers = [
            pgtrigger.Protect(
                name="admission_decision_append_only",
                operation=pgtrigger.Update | pgtrigger.Delete,
            )
        ]

    def __str__(self) -> str:
        return f"{self.id}: {self.outcome} ({self.artifact_id})"


# Governed tables (metaqore_site.governed; the guard: governance's govern_table migration).
governed(GovernancePolicy, service="governance.policy.policy_update")
governed(Provider, service="governance.providers (provider_create/provider_update/...)")
governed(PolicyRevision, service="governance.policy.policy_update (append-only revisions)")
governed(
    Waiver,
    service="governance waivers (waiver_create/waiver_revoke)",
    bookkeeping_columns={
        "use_count": "how often the waiver was applied (each use is in its conflict's event)",
        "last_used_at": "when the waiver was last applied",
        "expiry_recorded": "whether the expiry was written to the trail",
    },
)
governed(AdmissionDecision, service="artifacts.services (written with each declaration)")
