"""The one write path for projects and tasks (API, admin and commands call these)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from access.actors import Actor
from compliance.audit import audit_for, changes_payload, model_snapshot
from metaqore_site.governed import mark_audited
from projects.models import Project, Task
from projects.sensitivity import SENSITIVITY_LEVELS, classify

PROJECT_FIELDS = ("name", "description", "owner_id", "status", "metadata")
TASK_FIELDS = ("title", "description", "status", "assigned_to", "depends_on", "metadata")
# What the audit trail records of each (before/after on updates).
PROJECT_AUDIT_FIELDS = PROJECT_FIELDS
TASK_AUDIT_FIELDS = (*TASK_FIELDS, "sensitivity", "completed_at")
SENSITIVITY_FLAGS = ("has_private_data", "has_sensitive_data", "is_security_task")


def task_sensitivity(task: Task, requested: str | None = None) -> str:
    """Classify the task from its title, assignee and metadata flags; never below
    ``requested`` nor below what it already has (sensitivity only goes up)."""
    flags = task.metadata if isinstance(task.metadata, dict) else {}
    computed = classify(
        agent_name=task.assigned_to,
        task_type=task.title,
        min_sensitivity=requested,
        **{flag: bool(flags.get(flag)) for flag in SENSITIVITY_FLAGS},
    )
    if task.pk and task.sensitivity:
        return max(computed, task.sensitivity, key=SENSITIVITY_LEVELS.index)
    return computed


def _apply(instance: Any, changes: dict[str, Any], allowed: tuple[str, ...]) -> list[str]:
    """Set the allowed fields that actually change; return their names."""
    changed = []
    for name, value in changes.items():
        if name not in allowed:
            raise ValueError(f"'{name}' cannot be changed here")
        if getattr(instance, name) != value:
            setattr(instance, name, value)
            changed.append(name)
    return changed


@transaction.atomic
def project_create(*, actor: Actor, **fields: Any) -> Project:
    fields.setdefault("owner_id", str(actor))
    project = Project(**{k: v for k, v in fields.items() if k in PROJECT_FIELDS})
    project.full_clean()
    mark_audited(project)
    project.save()
    audit_for(
        "project.created",
        project,
        actor=actor,
        payload={"after": model_snapshot(project, PROJECT_AUDIT_FIELDS)},
    )
    return project


@transaction.atomic
def project_update(*, project: Project, actor: Actor, changes: dict[str, Any]) -> Project:
    before = model_snapshot(project, PROJECT_AUDIT_FIELDS)
    changed = _apply(project, changes, PROJECT_FIELDS)
    if changed:
        project.full_clean()
        mark_audited(project)
        project.save(update_fields=[*changed, "updated_at"])
        after = model_snapshot(project, PROJECT_AUDIT_FIELDS)
        audit_for("project.updated", project, actor=actor, payload=changes_payload(before, after))
    return project


@transaction.atomic
def project_delete(*, project: Project, actor: Actor) -> None:
    # Tasks go first, one by one, so each deletion is audited under the same actor (a cascade
    # would reach the post_delete receiver unmarked and be recorded as `system`).
    for task in project.tasks.select_for_update().order_by("created_at", "id"):
        task_delete(task=task, actor=actor)
    # Audited before the row goes: delete() clears the primary key.
    audit_for(
        "project.deleted",
        project,
        actor=actor,
        payload={"before": model_snapshot(project, PROJECT_AUDIT_FIELDS)},
    )
    mark_audited(project)
    project.delete()


def validate_task_dependencies(*, project: Project, task_id: str | None, depends_on: list[str]):
    """Every dependency must be a task of the same project, and not the task itself."""
    if task_id and task_id in depends_on:
        raise ValidationError({"depends_on": ["A task cannot depend on itself."]})
    if not depends_on:
        return
    found = set(
        Task.objects.filter(project=project, id__in=depends_on).values_list("id", flat=True)
    )
    missing = [task for task in depends_on if task not in found]
    if missing:
        raise ValidationError(
            {"depends_on": [f"Unknown task ids in project {project.id}: {', '.join(missing)}"]}
        )


def _stamp_completion(task: Task) -> None:
    if task.status == Task.Status.COMPLETED and task.completed_at is None:
        task.completed_at = timezone.now()
    elif task.status != Task.Status.COMPLETED:
        task.completed_at = None


@transaction.atomic
def task_create(*, actor: Actor, project: Project, **fields: Any) -> Task:
    task = Task(project=project, **{k: v for k, v in fields.items() if k in TASK_FIELDS})
    task.sensitivity = task_sensitivity(task, fields.get("sensitivity"))
    validate_task_dependencies(project=project, task_id=None, depends_on=task.depends_on)
    _stamp_completion(task)
    task.full_clean()
    mark_audited(task)
    task.save()
    audit_for(
        "task.created",
        task,
        actor=actor,
        payload={"after": model_snapshot(task, TASK_AUDIT_FIELDS)},
    )
    return task


@transaction.atomic
def task_update(*, task: Task, actor: Actor, changes: dict[str, Any]) -> Task:
    before = model_snapshot(task, TASK_AUDIT_FIELDS)
    changes = dict(changes)
    requested = changes.pop("sensitivity", None)
    changed = _apply(task, changes, TASK_FIELDS)
    sensitivity = task_sensitivity(task, requested)
    if sensitivity != task.sensitivity:
        task.sensitivity = sensitivity
        changed.append("sensitivity")
    if "depends_on" in changed:
        validate_task_dependencies(
            project=task.project, task_id=task.id, depends_on=task.depends_on
        )
    if "status" in changed:
        _stamp_completion(task)
        changed.append("completed_at")
    if changed:
        task.full_clean()
        mark_audited(task)
        task.save(update_fields=[*changed, "updated_at"])
        after = model_snapshot(task, TASK_AUDIT_FIELDS)
        audit_for("task.updated", task, actor=actor, payload=changes_payload(before, after))
    return task


@transaction.atomic
def task_delete(*, task: Task, actor: Actor) -> None:
    # Audited before the row goes: delete() clears the primary key.
    audit_for(
        "task.deleted",
        task,
        actor=actor,
        payload={"before": model_snapshot(task, TASK_AUDIT_FIELDS)},
    )
    mark_audited(task)
    task.delete()
