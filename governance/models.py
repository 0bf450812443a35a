"""Governance models of an organization (its own schema)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Agent(models.Model):
    """An automated worker known to the org; it authenticates with API keys."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
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
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.agent.name})"

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()


def new_conflict_id() -> str:
    from metaqore_site.ids import public_id

    return public_id("conf")


class SingletonPolicy(models.Model):
    """A per-org policy: one row per schema (pk is always 1), its revision bumped on each
    change, created by a data migration in every org."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    revision = models.PositiveIntegerField(default=1, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=200, default="system", editable=False)

    class Meta:
        abstract = True

    @classmethod
    def default_values(cls) -> dict:
        return {}

    @classmethod
    def load(cls, *, for_update: bool = False):
        queryset = cls.objects.select_for_update() if for_update else cls.objects
        policy = queryset.filter(pk=1).first()
        if policy is None:
            # The migration's row is gone: recreate the defaults without firing the audit
            # receivers (reading the policy is not a change).
            cls.objects.bulk_create([cls(pk=1, **cls.default_values())], ignore_conflicts=True)
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

    class Meta:
        verbose_name_plural = "governance policy"
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="governance_policy_singleton")
        ]

    def __str__(self) -> str:
        return f"Governance policy (mode {self.mode}, revision {self.revision})"


class Conflict(models.Model):
    class Severity(models.TextChoices):
        LOW = "low"
        MEDIUM = "medium"
        HIGH = "high"
        CRITICAL = "critical"

    class Strategy(models.TextChoices):
        RETRY = "retry"
        OVERRIDE = "override"
        MERGE = "merge"
        ESCALATE = "escalate"

    class Status(models.TextChoices):
        OPEN = "open"
        ESCALATED = "escalated"
        RESOLVED = "resolved"

    SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
    UNRESOLVED = (Status.OPEN, Status.ESCALATED)

    id = models.CharField(primary_key=True, max_length=32, default=new_conflict_id, editable=False)
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="+")
    artifact = models.ForeignKey(
        "artifacts.Artifact", on_delete=models.CASCADE, related_name="conflicts"
    )
    conflict_type = models.CharField(max_length=50)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    description = models.TextField()
    details = models.JSONField(default=dict, blank=True)
    hint = models.TextField(blank=True)
    suggested_strategy = models.CharField(max_length=10, choices=Strategy.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    resolution_strategy = models.CharField(max_length=10, choices=Strategy.choices, blank=True)
    resolved_by = models.CharField(max_length=200, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True, max_length=5000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["project", "status"], name="conflict_project_status"),
            # The conflict list of one project, newest first (the model's ordering).
            models.Index(fields=["project", "-created_at"], name="conflict_project_newest"),
            models.Index(fields=["artifact", "status"], name="conflict_artifact_status"),
            models.Index(fields=["status", "severity"], name="conflict_status_severity"),
        ]

    def __str__(self) -> str:
        return f"{self.conflict_type} ({self.severity}) on {self.artifact_id}"

    @property
    def is_unresolved(self) -> bool:
        return self.status in self.UNRESOLVED


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


# HMCP (skills, hierarchy policy, specialists, training jobs) lives in its own package.
from governance.specialists.models import (  # noqa: E402, F401
    HierarchyPolicy,
    Skill,
    Specialist,
    TrainingJob,
)
