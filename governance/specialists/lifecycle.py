"""The building blocks every HMCP write path uses: move a specialist through its lifecycle,
queue or cancel training jobs, and audit each step. Callers hold the transaction and the
row locks (specialist first, then its jobs, then its artifact)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from artifacts.models import Artifact
from compliance.audit import audit_record, mark_audited
from governance.actors import Actor
from governance.psmp import IllegalTransition
from governance.specialists.models import Specialist, TrainingJob, specialist_line

Lifecycle = Specialist.Lifecycle


def governed(instance: Specialist | TrainingJob) -> Specialist | TrainingJob:
    """Mark a row whose save this module audits itself (and whose state it may move)."""
    instance._governed = True
    return mark_audited(instance)


def audit_specialist(
    event_type: str, specialist: Specialist, actor: Actor, payload: dict[str, Any]
) -> None:
    audit_record(
        event_type=event_type,
        actor=actor,
        resource_type="specialist",
        resource_id=specialist.id,
        project_id=specialist.project_id,
        task_type=specialist_line(specialist.skill.skill_id, specialist.level),
        payload={"skill_id": specialist.skill.skill_id, "level": specialist.level, **payload},
    )


def audit_job(event_type: str, job: TrainingJob, actor: Actor, payload: dict[str, Any]) -> None:
    specialist = job.specialist
    audit_record(
        event_type=event_type,
        actor=actor,
        resource_type="training_job",
        resource_id=job.id,
        project_id=specialist.project_id,
        task_type=specialist_line(specialist.skill.skill_id, specialist.level),
        payload={"specialist_id": specialist.id, "purpose": job.purpose, **payload},
    )


def locked(specialist: Specialist | str) -> Specialist:
    pk = specialist if isinstance(specialist, str) else specialist.pk
    return (
        Specialist.objects.select_for_update(of=("self",))
        .select_related("skill", "artifact")
        .get(pk=pk)
    )


def check_move(specialist: Specialist, target: str) -> None:
    if target not in Lifecycle.values:
        raise IllegalTransition(f"Unknown lifecycle state '{target}'.", code="unknown_state")
    if specialist.lifecycle == target:
        raise IllegalTransition(f"{specialist.id} is already {target}.")
    if not specialist.can_transition_to(target):
        allowed = sorted(specialist.TRANSITIONS[specialist.lifecycle]) or "none"
        raise IllegalTransition(
            f"{specialist.id} cannot go from {specialist.lifecycle} to {target}: "
            f"allowed from {specialist.lifecycle}: {allowed}."
        )


def history_entry(state: str, actor: Actor, reason: str) -> dict[str, str]:
    at = timezone.now().isoformat().replace("+00:00", "Z")
    return {"state": state, "at": at, "by": str(actor), "reason": reason}


def move(
    specialist: Specialist,
    target: str,
    actor: Actor,
    reason: str,
    *,
    extra: dict[str, Any] | None = None,
    fields: tuple[str, ...] = (),
) -> None:
    """One lifecycle step: checked, recorded in lifecycle_history, saved, audited
    (``specialist.blocked`` for a block, ``specialist.transitioned`` otherwise)."""
    check_move(specialist, target)
    previous = specialist.lifecycle
    specialist.lifecycle = target
    specialist.lifecycle_history = [
        *specialist.lifecycle_history,
        history_entry(target, actor, reason),
    ]
    governed(specialist).save(
        update_fields=["lifecycle", "lifecycle_history", "updated_at", *fields]
    )
    event = "specialist.blocked" if target == Lifecycle.BLOCKED else "specialist.transitioned"
    audit_specialist(
        event,
        specialist,
        actor,
        {"from": previous, "to": target, "reason": reason, **(extra or {})},
    )


def queue_job(specialist: Specialist, actor: Actor, purpose: str, reason: str) -> TrainingJob:
    job = TrainingJob(specialist=specialist, purpose=purpose)
    governed(job).save(force_insert=True)
    audit_job("training_job.queued", job, actor, {"reason": reason})
    return job


def start_training(specialist: Specialist, actor: Actor, reason: str) -> TrainingJob:
    """psmp_validating → training, with the job an external trainer will claim."""
    move(specialist, Lifecycle.TRAINING, actor, reason)
    return queue_job(specialist, actor, TrainingJob.Purpose.INITIAL, reason)


def cancel_open_jobs(specialist: Specialist, actor: Actor, reason: str) -> list[str]:
    cancelled = []
    open_jobs = specialist.training_jobs.select_for_update().filter(status__in=TrainingJob.OPEN)
    for job in open_jobs.order_by("created_at"):
        job.specialist = specialist
        previous = job.status
        job.status = TrainingJob.Status.FAILED
        job.failure_reason = reason
        job.finished_at = timezone.now()
        governed(job).save(update_fields=["status", "failure_reason", "finished_at", "updated_at"])
        audit_job(
            "training_job.failed",
            job,
            actor,
            {"from": previous, "reason": reason, "by_trainer": False},
        )
        cancelled.append(job.id)
    return cancelled


def finish(
    specialist: Specialist,
    target: str,
    actor: Actor,
    reason: str,
    *,
    extra: dict[str, Any] | None = None,
) -> None:
    """Deprecate or block: the open training jobs fail, the artifact is archived (which frees
    the skill/level line for a new proposal and closes the artifact's open conflicts)."""
    from artifacts.services import artifact_transition

    move(specialist, target, actor, reason, extra=extra)
    cancel_open_jobs(specialist, actor, f"specialist {specialist.id} is {target}: {reason}")
    artifact = specialist.artifact
    if artifact.state != Artifact.State.ARCHIVED:
        artifact_transition(
            artifact=artifact,
            actor=actor,
            to=Artifact.State.ARCHIVED,
            reason=f"specialist {specialist.id} is {target}: {reason}",
        )
