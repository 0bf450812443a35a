"""Projects and their tasks: the first governed resources of an organization."""

from __future__ import annotations

from django.db import models

from metaqore_site.governed import GovernedManager, governed
from metaqore_site.ids import public_id


def new_project_id() -> str:
    return public_id("proj")


def new_task_id() -> str:
    return public_id("task")


class Project(models.Model):
    class Status(models.TextChoices):
        INITIALIZED = "initialized"
        PLANNING = "planning"
        IN_PROGRESS = "in_progress"
        COMPLETED = "completed"
        FAILED = "failed"
        BLOCKED = "blocked"

    id = models.CharField(primary_key=True, max_length=32, default=new_project_id, editable=False)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=10_000)
    owner_id = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.INITIALIZED)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = GovernedManager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status"]), models.Index(fields=["-created_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"

    def audit_target(self) -> dict[str, str]:
        return {"resource_type": "project", "resource_id": self.id, "project_id": self.id}


class Task(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        IN_PROGRESS = "in_progress"
        COMPLETED = "completed"
        FAILED = "failed"
        BLOCKED = "blocked"

    class Sensitivity(models.TextChoices):
        PUBLIC = "public"
        INTERNAL = "internal"
        SENSITIVE = "sensitive"
        CRITICAL = "critical"

    id = models.CharField(primary_key=True, max_length=32, default=new_task_id, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="tasks")
    title = models.CharField(max_length=500)
    description = models.TextField(blank=True, max_length=10_000)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    assigned_to = models.CharField(max_length=200, blank=True)
    depends_on = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # Computed from the title, assignee and metadata flags (governance.provider_routing.classify);
    # a caller may ask for a higher level, never a lower one.
    sensitivity = models.CharField(
        max_length=10, choices=Sensitivity.choices, default=Sensitivity.PUBLIC, db_index=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    objects = GovernedManager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["project", "status"]),
            models.Index(fields=["assigned_to"]),
            # Specialist discovery scans a recent window of the org's tasks (newest first).
            models.Index(fields=["created_at"], name="task_created_at"),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.id})"

    def audit_target(self) -> dict[str, str]:
        return {"resource_type": "task", "resource_id": self.id, "project_id": self.project_id}


# Governed tables (metaqore_site.governed; the guard: projects' govern_table migration).
governed(Project, service="projects.services (project_create/project_update/project_delete)")
governed(Task, service="projects.services (task_create/task_update/task_delete)")
