"""HMCP models of an organization: the skill registry, the hierarchy policy, specialists and
their training jobs.

Specialists and training jobs own their state machines as data (``TRANSITIONS``), backed by
database triggers; only ``hmcp.services`` / ``training`` move them: a plain
``save()`` that changes the state, bulk ORM writes and deletes are refused.
"""

from __future__ import annotations

import pgtrigger
from django.contrib.postgres.indexes import GinIndex
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from artifacts.models import Artifact
from governance.models import SingletonPolicy
from hmcp import rules, validation_gate
from hmcp.defaults import policy_field_values
from metaqore_site.errors import GovernanceBypassError
from metaqore_site.governed import GovernedManager, bookkeeping, governed
from metaqore_site.ids import public_id
from projects.models import Project

SPECIALIST_LINE_PREFIX = "specialist_model:"


def specialist_line(skill_id: str, level: str) -> str:
    """The artifact line (artifact_type) of specialists of one skill and level."""
    return f"{SPECIALIST_LINE_PREFIX}{skill_id}:{level}"


def is_specialist_line(artifact_type: str) -> bool:
    return artifact_type.startswith(SPECIALIST_LINE_PREFIX)


def new_specialist_id() -> str:
    return public_id("spec")


def new_training_job_id() -> str:
    return public_id("job")


FRACTION = [MinValueValidator(0.0), MaxValueValidator(1.0)]


class ServiceOnlyState(models.Model):
    """Rows are created and their state moved only by the services, which mark the instance
    (``_governed``) before saving; other saves may change other fields (audited as system)."""

    STATE_FIELD = "status"
    _governed: bool  # set by hmcp.lifecycle.governed(), consumed by save()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs) -> None:
        if not self.__dict__.pop("_governed", False):
            name = type(self).__name__
            if self._state.adding:
                raise GovernanceBypassError(
                    f"A {name} is created by hmcp.services, not saved directly."
                )
            field = self.STATE_FIELD
            stored = type(self)._default_manager.filter(pk=self.pk).values_list(field, flat=True)
            current = stored.first()
            if current is not None and current != getattr(self, field):
                raise GovernanceBypassError(
                    f"{name}.{field} changes only through hmcp.services "
                    f"(tried {current} → {getattr(self, field)})."
                )
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise GovernanceBypassError(
            f"A {type(self).__name__} is never deleted; deprecate or block the specialist."
        )


class Skill(models.Model):
    """An entry of the org's skill registry (registry_only: unknown skills are refused)."""

    skill_id = models.SlugField(max_length=64, unique=True)
    description = models.TextField(blank=True, max_length=5000)
    parent_agent = models.CharField(max_length=200, blank=True)
    max_specialist_size_mb = models.FloatField(validators=[MinValueValidator(0.001)])
    allowed_teachers = models.JSONField(default=list, blank=True)
    # Normalized task-title patterns (see discovery.normalize_title) this skill covers: the
    # discovery endpoint reports them as existing_skill.
    task_patterns = models.JSONField(default=list, blank=True)
    created_by = models.CharField(max_length=200, default="system", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = GovernedManager()

    class Meta:
        db_table = "governance_skill"  # HMCP's tables keep the names they had in governance
        ordering = ["skill_id"]
        indexes = [GinIndex(fields=["task_patterns"], name="skill_task_patterns_gin")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(max_specialist_size_mb__gt=0), name="skill_size_positive"
            )
        ]

    def __str__(self) -> str:
        return self.skill_id

    def clean(self) -> None:
        for name in ("allowed_teachers", "task_patterns"):
            value = getattr(self, name)
            if not isinstance(value, list) or not all(
                isinstance(item, str) and item.strip() and len(item) <= 500 for item in value
            ):
                raise ValidationError({name: ["Expected a list of non-empty strings."]})
            setattr(self, name, list(dict.fromkeys(item.strip() for item in value)))

    def audit_target(self) -> dict[str, str]:
        return {"resource_type": "skill", "resource_id": self.skill_id}

    def facts(self) -> rules.SkillFacts:
        return rules.SkillFacts(
            self.skill_id, self.max_specialist_size_mb, tuple(self.allowed_teachers)
        )


class HierarchyPolicy(SingletonPolicy):
    """The org's HMCP policy: one row per schema (pk is always 1), defaults from
    hmcp/defaults.json, edited by org admins (admin, API)."""

    chaining_depth = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(20)]
    )
    levels = models.JSONField(
        help_text='{"level_1": {"name": "domain_specialist", "max_size": "200M_params", '
        '"can_spawn": true}, …}'
    )
    spawn_min_confidence = models.FloatField(validators=FRACTION)
    require_task_isolation = models.BooleanField()
    gate_functional_unit_test_min = models.FloatField(validators=FRACTION)
    gate_catastrophic_forgetting_max_drop = models.FloatField(validators=FRACTION)
    gate_adversarial_robustness_required = models.BooleanField()
    gate_psmp_compatibility_required = models.BooleanField()
    drift_max_drop = models.FloatField(
        validators=FRACTION, help_text="0.05: retrain when the golden-set score drops > 5%."
    )
    retire_after_days = models.PositiveIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(3650)]
    )
    lease_minutes = models.PositiveIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(10080)]
    )
    discovery_min_repetitions = models.PositiveIntegerField(validators=[MinValueValidator(2)])
    discovery_days = models.PositiveIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(365)]
    )

    class Meta:
        db_table = "governance_hierarchypolicy"
        verbose_name_plural = "hierarchy policy"
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="hierarchy_policy_singleton")
        ]

    def __str__(self) -> str:
        return f"Hierarchy policy (revision {self.revision})"

    def clean(self) -> None:
        try:
            rules.parse_levels(self.levels)
        except ValueError as exc:
            raise ValidationError({"levels": [str(exc)]}) from exc

    @classmethod
    def default_values(cls) -> dict:
        return policy_field_values()

    def hierarchy_rules(self) -> rules.HierarchyRules:
        return rules.HierarchyRules(
            chaining_depth=self.chaining_depth,
            levels=rules.parse_levels(self.levels),
            min_confidence=self.spawn_min_confidence,
            require_task_isolation=self.require_task_isolation,
        )

    def gate_thresholds(self) -> validation_gate.GateThresholds:
        return validation_gate.GateThresholds(
            functional_unit_test_min=self.gate_functional_unit_test_min,
            catastrophic_forgetting_max_drop=self.gate_catastrophic_forgetting_max_drop,
            adversarial_robustness_required=self.gate_adversarial_robustness_required,
            psmp_compatibility_required=self.gate_psmp_compatibility_required,
        )


LIFECYCLE_STATES = (
    "proposed",
    "psmp_validating",
    "training",
    "validation_gating",
    "active",
    "deprecated",
    "blocked",
)
LIFECYCLE_MOVES = [
    ("proposed", "psmp_validating"),
    ("psmp_validating", "training"),
    ("training", "validation_gating"),
    ("validation_gating", "active"),
    ("active", "deprecated"),
    *[
        (state, "blocked")
        for state in ("proposed", "psmp_validating", "training", "validation_gating", "active")
    ],
]


class Specialist(ServiceOnlyState):
    class Lifecycle(models.TextChoices):
        PROPOSED = "proposed"
        PSMP_VALIDATING = "psmp_validating"
        TRAINING = "training"
        VALIDATION_GATING = "validation_gating"
        ACTIVE = "active"
        DEPRECATED = "deprecated"
        BLOCKED = "blocked"

    STATE_FIELD = "lifecycle"
    # The HMCP lifecycle, as data: `blocked` from any non-terminal state, `active` only
    # through the validation gate; everything else is refused (here and in the database).
    TRANSITIONS: dict[str, frozenset[str]] = {
        state: frozenset(new for old, new in LIFECYCLE_MOVES if old == state)
        for state in Lifecycle.values
    }
    TERMINAL = frozenset({Lifecycle.DEPRECATED, Lifecycle.BLOCKED})

    id = models.CharField(
        primary_key=True, max_length=32, default=new_specialist_id, editable=False
    )
    skill = models.ForeignKey(Skill, on_delete=models.PROTECT, related_name="specialists")
    level = models.CharField(max_length=16)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="specialists")
    artifact = models.OneToOneField(Artifact, on_delete=models.PROTECT, related_name="specialist")
    teachers = models.JSONField(default=list, blank=True)
    parameter_count = models.BigIntegerField()
    requested_size_mb = models.FloatField()
    confidence = models.FloatField(null=True, blank=True, validators=FRACTION)
    task_isolation_passed = models.BooleanField(default=False)
    created_by = models.CharField(max_length=200)
    lifecycle = models.CharField(
        max_length=20, choices=Lifecycle.choices, default=Lifecycle.PROPOSED
    )
    lifecycle_history = models.JSONField(default=list, blank=True)
    # Observability: the score drift is measured against, and the retirement clock.
    activation_score = models.FloatField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    invocations = models.BigIntegerField(default=0)
    last_avg_confidence = models.FloatField(null=True, blank=True)
    last_golden_set_score = models.FloatField(null=True, blank=True)
    drift_detected_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = GovernedManager()

    class Meta:
        db_table = "governance_specialist"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["skill", "level", "lifecycle"], name="specialist_skill_level"),
            models.Index(fields=["lifecycle", "last_activity_at"], name="specialist_idle"),
            models.Index(fields=["project", "lifecycle"], name="specialist_project"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(lifecycle__in=LIFECYCLE_STATES),
                name="specialist_lifecycle_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(parameter_count__gt=0), name="specialist_parameters_positive"
            ),
        ]
        triggers = [
            pgtrigger.FSM(
                name="specialist_lifecycle_fsm", field="lifecycle", transitions=LIFECYCLE_MOVES
            )
        ]

    def __str__(self) -> str:
        return f"{self.skill_id} {self.level} ({self.id}, {self.lifecycle})"

    def can_transition_to(self, target: str) -> bool:
        return target in self.TRANSITIONS.get(self.lifecycle, frozenset())

    @property
    def line(self) -> str:
        """The artifact line of this specialist's models."""
        return specialist_line(self.skill.skill_id, self.level)

    def audit_target(self) -> dict[str, str]:
        return {
            "resource_type": "specialist",
            "resource_id": self.id,
            "project_id": self.project_id,
            "task_type": self.line,
        }

    def audit_context(self) -> dict[str, str]:
        return {"skill_id": self.skill.skill_id, "level": self.level}


JOB_MOVES = [
    ("queued", "claimed"),
    ("claimed", "queued"),  # the lease expired
    ("claimed", "completed"),
    ("claimed", "failed"),
    ("queued", "failed"),  # the specialist was blocked or deprecated before a trainer came
]


class TrainingJob(ServiceOnlyState):
    """Work for an external trainer: claim it (with a lease), then complete or fail it."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        CLAIMED = "claimed"
        COMPLETED = "completed"
        FAILED = "failed"

    class Purpose(models.TextChoices):
        INITIAL = "initial"
        RETRAINING = "retraining"

    OPEN = (Status.QUEUED, Status.CLAIMED)

    id = models.CharField(
        primary_key=True, max_length=32, default=new_training_job_id, editable=False
    )
    specialist = models.ForeignKey(
        Specialist, on_delete=models.PROTECT, related_name="training_jobs"
    )
    purpose = models.CharField(max_length=12, choices=Purpose.choices, default=Purpose.INITIAL)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    claimed_by = models.CharField(max_length=200, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True)
    gate = models.JSONField(default=dict, blank=True)
    failure_reason = models.TextField(blank=True, max_length=5000)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = GovernedManager()

    class Meta:
        db_table = "governance_trainingjob"
        ordering = ["created_at"]
        indexes = [
            models.Index(fields=["status", "created_at"], name="training_job_queue"),
            models.Index(fields=["status", "lease_expires_at"], name="training_job_lease"),
            models.Index(fields=["specialist", "status"], name="training_job_specialist"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["queued", "claimed", "completed", "failed"]),
                name="training_job_status_valid",
            ),
            models.UniqueConstraint(
                fields=["specialist"],
                condition=models.Q(status__in=["queued", "claimed"]),
                name="training_job_one_open_per_specialist",
            ),
        ]
        triggers = [pgtrigger.FSM(name="training_job_fsm", field="status", transitions=JOB_MOVES)]

    def __str__(self) -> str:
        return f"{self.id} ({self.status}) for {self.specialist_id}"

    def audit_target(self) -> dict[str, str]:
        return {
            "resource_type": "training_job",
            "resource_id": self.id,
            "project_id": self.specialist.project_id,
            "task_type": self.specialist.line,
        }

    def audit_context(self) -> dict[str, str]:
        return {"specialist_id": self.specialist.id, "purpose": self.purpose}


class DiscoveryRun(models.Model):
    """One scheduled discovery of repeated work (``hmcp.tasks.discover_repeated_work``): the
    patterns found, kept so the dashboard shows them without recomputing (latest runs only)."""

    ran_at = models.DateTimeField(auto_now_add=True, db_index=True)
    days = models.PositiveIntegerField()
    min_repetitions = models.PositiveIntegerField()
    scanned_tasks = models.PositiveIntegerField()
    truncated = models.BooleanField(default=False)
    results = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-ran_at", "-id"]

    def __str__(self) -> str:
        return f"discovery {self.ran_at:%Y-%m-%d %H:%M}: {len(self.results)} pattern(s)"


# Governed tables (metaqore_site.governed; the guard: hmcp's govern_table migration).
governed(Skill, service="hmcp.registry (skill_create/skill_update/skill_delete)")
governed(HierarchyPolicy, service="hmcp.registry.hierarchy_policy_update")
governed(Specialist, service="hmcp.services / hmcp.lifecycle (specialist_propose, ...)")
governed(TrainingJob, service="hmcp.training (training_job_claim, ...)")
bookkeeping(
    DiscoveryRun,
    reason="a report computed from the org's tasks (recomputable), not governance state",
)
