"""Governance models of an organization (its own schema)."""

from __future__ import annotations

from typing import Any, ClassVar, Self

from django.db import models


class SingletonPolicy(models.Model):
    """A per-org policy: one row per schema (pk is always 1), its revision bumped on each
    change, created by a data migration in every org."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    revision = models.PositiveIntegerField(default=1, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=200, default="system", editable=False)

    # Each concrete policy's default manager (the type checker sees none on an abstract model).
    objects: ClassVar[models.Manager[Self]]

    class Meta:
        abstract = True

    @classmethod
    def default_values(cls) -> dict[str, Any]:
        return {}

    @classmethod
    def load(cls, *, for_update: bool = False) -> Self:
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

    def audit_target(self) -> dict[str, str]:
        return {"resource_type": "provider", "resource_id": self.name, "provider": self.name}
