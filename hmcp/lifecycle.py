"""The building blocks every HMCP write path uses: move a specialist through its lifecycle,
queue or cancel training jobs, and audit each step. Callers hold the transaction and the
row locks (specialist first, then its jobs, then its artifact)."""

from __future__ import annotations

from typing import Any, TypeVar

from django.utils import timezone

from access.actors import Actor
from artifacts.models import Artifact
from artifacts.services import artifact_transition
from compliance.audit import audit_for
from hmcp.models import ServiceOnlyState, Specialist, TrainingJob
from metaqore_site.errors import IllegalTransition
from metaqore_site.governed import mark_audited

Lifecycle = Specialist.Lifecycle
RowT = TypeVar("RowT", bound=ServiceOnlyState)


def governed(instance: RowT) -> RowT:
    """Mark a row whose save this module audits itself (and whose state it may move)."""
    instance._governed = True
    return mark_audited(instance)


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
    audit_for(
        event,
        specialist,
        actor=actor,
        payload={"from": previous, "to": target, "reason": reason, **(extra or {})},
    )


def queue_job(specialist: Specialist, actor: Actor, purpose: str, reason: str) -> TrainingJob:
    job = TrainingJob(specialist=specialist, purpose=purpose)
    governed(job).save(force_insert=True)
    audit_for("training_job.queued", job, actor=actor, payload={"reason": reason})
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
        audit_for(
            "training_job.failed",
            job,
            actor=actor,
            payload={"from": previous, "reason": reason, "by_trainer": False},
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
