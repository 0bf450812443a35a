"""Governed artifacts declared by agents: code, plans, specs, tests, trained specialists.

The PSMP state machine (draft → active → archived) is owned here as data, enforced by
``artifacts.services`` on every write path (``save()`` of an ungoverned instance is routed
through the services), and backed by database triggers so raw SQL cannot break it either.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import pgtrigger
from django.contrib.postgres.indexes import GinIndex
from django.db import models

from metaqore_site.governed import GovernedManager, governed
from metaqore_site.ids import public_id
from projects.models import Project


def new_artifact_id() -> str:
    return public_id("art")


def new_conflict_id() -> str:
    return public_id("conf")


class Artifact(models.Model):
    class State(models.TextChoices):
        DRAFT = "draft"
        ACTIVE = "active"
        ARCHIVED = "archived"

    # The PSMP state machine, as data: everything else is refused (here and in the database).
    TRANSITIONS: dict[str, frozenset[str]] = {
        State.DRAFT: frozenset({State.ACTIVE, State.ARCHIVED}),
        State.ACTIVE: frozenset({State.ARCHIVED}),
        State.ARCHIVED: frozenset(),
    }
    CONTENT_FIELDS = ("data", "metadata", "depends_on", "file_paths", "requirements")

    id = models.CharField(primary_key=True, max_length=32, default=new_artifact_id, editable=False)
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="artifacts")
    artifact_type = models.CharField(max_length=100)
    version = models.PositiveIntegerField()
    data = models.JSONField(blank=True)  # required in the API; {} is a valid object
    created_by = models.CharField(max_length=200)
    state = models.CharField(max_length=10, choices=State.choices, default=State.DRAFT)
    depends_on = models.JSONField(default=list, blank=True)
    file_paths = models.JSONField(default=list, blank=True)
    requirements = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(max_length=64, editable=False)
    is_blocked = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = GovernedManager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "artifact_type", "version"], name="artifact_unique_version"
            ),
            models.UniqueConstraint(
                fields=["project", "artifact_type"],
                condition=models.Q(state="active"),
                name="artifact_one_active_per_line",
            ),
            models.CheckConstraint(
                condition=models.Q(version__gte=1), name="artifact_version_gte_1"
            ),
            models.CheckConstraint(
                condition=models.Q(state__in=["draft", "active", "archived"]),
                name="artifact_state_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["project", "artifact_type", "state"], name="artifact_line_state"),
            models.Index(fields=["project", "state"], name="artifact_project_state"),
            models.Index(fields=["created_by"], name="artifact_created_by"),
            # The API's newest-first lists (ties broken by id), of one project and of the org:
            # the index is the order, so a page reads 25 entries, not the whole project.
            models.Index(
                fields=["project", "-created_at", "-id"], name="artifact_project_newest_id"
            ),
            models.Index(fields=["-created_at", "-id"], name="artifact_newest_id"),
            models.Index(
                fields=["project", "artifact_type", "version"],
                condition=models.Q(is_blocked=True),
                name="artifact_project_blocked",
            ),
            GinIndex(fields=["file_paths"], name="artifact_file_paths_gin"),
            GinIndex(fields=["requirements"], name="artifact_requirements_gin"),
        ]
        triggers = [
            pgtrigger.FSM(
                name="artifact_psmp_fsm",
                field="state",
                transitions=[("draft", "active"), ("draft", "archived"), ("active", "archived")],
            ),
            # An active or archived artifact is immutable: change it by declaring a new version.
            pgtrigger.Protect(
                name="artifact_freeze_non_draft",
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(old__state__in=["active", "archived"])
                & (
                    pgtrigger.Q(old__data__df=pgtrigger.F("new__data"))
                    | pgtrigger.Q(old__depends_on__df=pgtrigger.F("new__depends_on"))
                    | pgtrigger.Q(old__file_paths__df=pgtrigger.F("new__file_paths"))
                    | pgtrigger.Q(old__requirements__df=pgtrigger.F("new__requirements"))
                    | pgtrigger.Q(old__version__df=pgtrigger.F("new__version"))
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.artifact_type} v{self.version} ({self.id})"

    # Every save and delete is governed: one already carried out by artifacts.services is
    # marked, anything else (admin form, shell, a command) is handed to the services, which
    # ArtifactsConfig.ready() plugs in here (the model cannot import its own services).
    ungoverned_save: ClassVar[Callable[[Artifact], None]]
    ungoverned_delete: ClassVar[Callable[[Artifact], None]]

    def save(self, *args, **kwargs) -> None:
        if getattr(self, "_governed", False):
            self._governed = False
            super().save(*args, **kwargs)
            return
        type(self).ungoverned_save(self)

    def delete(self, *args, **kwargs):
        if getattr(self, "_governed", False):
            self._governed = False
            return super().delete(*args, **kwargs)
        type(self).ungoverned_delete(self)
        return (1, {self._meta.label: 1})

    def can_transition_to(self, target: str) -> bool:
        return target in self.TRANSITIONS.get(self.state, frozenset())

    def audit_target(self) -> dict[str, str]:
        return {
            "resource_type": "artifact",
            "resource_id": self.id,
            "project_id": self.project_id,
            "task_type": self.artifact_type,
        }


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
        WAIVED = "waived"  # by a waiver, never chosen by a person

    class Status(models.TextChoices):
        OPEN = "open"
        ESCALATED = "escalated"
        RESOLVED = "resolved"
        DRYRUN = "dryrun"  # matched a dry-run rule: recorded, never blocking

    class Action(models.TextChoices):
        """What the policy did with the conflict when it was detected."""

        ENFORCE = "enforce"
        WARN = "warn"
        DRYRUN = "dryrun"
        AUTO_RESOLVE = "auto_resolve"
        WAIVED = "waived"

    # What a person (or privileged client) may choose when resolving.
    RESOLUTION_STRATEGIES = (Strategy.RETRY, Strategy.OVERRIDE, Strategy.MERGE, Strategy.ESCALATE)

    SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
    UNRESOLVED = (Status.OPEN, Status.ESCALATED)

    id = models.CharField(primary_key=True, max_length=32, default=new_conflict_id, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    artifact = models.ForeignKey(Artifact, on_delete=models.CASCADE, related_name="conflicts")
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
    # The policy's verdict at detection: the rule that matched (null: the mode decided).
    rule_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001  (null: no rule)
    action = models.CharField(max_length=20, choices=Action.choices, blank=True)
    decision_id = models.CharField(max_length=32, blank=True)

    objects = GovernedManager()

    class Meta:
        db_table = "governance_conflict"
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

    def audit_target(self) -> dict[str, str]:
        return {"resource_type": "conflict", "resource_id": self.id, "project_id": self.project_id}

    def audit_context(self) -> dict[str, str]:
        return {"artifact_id": self.artifact_id}


# Governed tables (metaqore_site.governed; the guard: artifacts' govern_table migration).
governed(Artifact, service="artifacts.services (artifact_declare, artifact_transition, ...)")
governed(Conflict, service="artifacts.services (conflict resolution: conflicts_resolve)")
