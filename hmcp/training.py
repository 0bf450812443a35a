"""Training jobs for external trainers (agents): claim with a lease, complete (the validation
gate decides active or blocked) or fail. Expired leases are re-queued lazily — by every
claim and every listing of jobs — so no background process is needed.

Claims are atomic: the job row is locked with ``SELECT … FOR UPDATE SKIP LOCKED``, so of two
trainers claiming the same job one gets it and the other is told at once that it is taken.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.http import Http404
from django.utils import timezone

from access.actors import SYSTEM, Actor
from artifacts import psmp
from artifacts.models import Artifact
from artifacts.services import artifact_transition
from compliance.audit import audit_for
from hmcp import validation_gate
from hmcp.lifecycle import (
    finish,
    governed,
    locked,
    move,
)
from hmcp.models import HierarchyPolicy, Specialist, TrainingJob
from hmcp.services import require
from metaqore_site.errors import GovernanceBlocked, GovernanceError, LeaseExpired

Status = TrainingJob.Status
Lifecycle = Specialist.Lifecycle
REQUEUE_BATCH = 100


def _requeue(job: TrainingJob, now: datetime) -> None:
    previous_claimant, expired_at = job.claimed_by, job.lease_expires_at
    job.status = Status.QUEUED
    job.claimed_by = ""
    job.claimed_at = None
    job.lease_expires_at = None
    governed(job).save(
        update_fields=["status", "claimed_by", "claimed_at", "lease_expires_at", "updated_at"]
    )
    audit_for(
        "training_job.requeued",
        job,
        actor=SYSTEM,
        payload={
            "reason": "lease expired",
            "previous_claimant": previous_claimant,
            "lease_expired_at": expired_at,
            "attempts": job.attempts,
        },
    )


def training_jobs_requeue_expired(*, job_ids: list[str] | None = None) -> list[str]:
    """Put claimed jobs whose lease has expired back in the queue (actor ``system``); jobs
    another transaction holds are skipped. Returns the re-queued ids. One indexed probe
    (status, lease_expires_at) when nothing expired, which is the common case."""
    now = timezone.now()
    expired = TrainingJob.objects.filter(status=Status.CLAIMED, lease_expires_at__lte=now)
    if job_ids is not None:
        expired = expired.filter(pk__in=job_ids)
    if not expired.exists():
        return []
    with transaction.atomic():
        jobs = list(
            expired.select_for_update(skip_locked=True, of=("self",))
            .select_related("specialist__skill")
            .order_by("lease_expires_at")[:REQUEUE_BATCH]
        )
        for job in jobs:
            _requeue(job, now)
    return [job.id for job in jobs]


def _claim(job: TrainingJob, actor: Actor) -> TrainingJob:
    now = timezone.now()
    lease = timedelta(minutes=HierarchyPolicy.load().lease_minutes)
    job.status = Status.CLAIMED
    job.claimed_by = str(actor)
    job.claimed_at = now
    job.lease_expires_at = now + lease
    job.attempts += 1
    governed(job).save(
        update_fields=[
            "status",
            "claimed_by",
            "claimed_at",
            "lease_expires_at",
            "attempts",
            "updated_at",
        ]
    )
    audit_for(
        "training_job.claimed",
        job,
        actor=actor,
        payload={
            "claimed_by": job.claimed_by,
            "lease_expires_at": job.lease_expires_at,
            "attempt": job.attempts,
        },
    )
    return job


def _require_trainer(actor: Actor) -> None:
    require(actor, "train_specialists", "Only agents (trainers) claim and report training jobs.")


def training_job_claim(*, job_id: str, actor: Actor) -> TrainingJob:
    """Claim one queued job. Exactly one of several concurrent claimers wins; the others get
    409 ``job_taken`` (another trainer holds or is taking it)."""
    _require_trainer(actor)
    training_jobs_requeue_expired(job_ids=[job_id])
    with transaction.atomic():
        job = (
            TrainingJob.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("specialist__skill")
            .filter(pk=job_id)
            .first()
        )
        if job is None:
            if not TrainingJob.objects.filter(pk=job_id).exists():
                raise Http404
            raise GovernanceBlocked(
                f"{job_id} is being claimed by another trainer.", code="job_taken"
            )
        if job.status == Status.CLAIMED:
            until = job.lease_expires_at.isoformat().replace("+00:00", "Z")
            raise GovernanceBlocked(
                f"{job.id} is claimed by {job.claimed_by} until {until}.", code="job_taken"
            )
        if job.status != Status.QUEUED:
            raise GovernanceBlocked(f"{job.id} is {job.status}.", code="job_finished")
        return _claim(job, actor)


def training_job_claim_next(*, actor: Actor) -> TrainingJob | None:
    """Claim the oldest queued job nobody else is taking (a work queue); None when empty."""
    _require_trainer(actor)
    training_jobs_requeue_expired()
    with transaction.atomic():
        job = (
            TrainingJob.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("specialist__skill")
            .filter(status=Status.QUEUED)
            .order_by("created_at")
            .first()
        )
        return _claim(job, actor) if job is not None else None


def _held(job_id: str, actor: Actor) -> tuple[Specialist, TrainingJob]:
    """Lock the job's specialist, then the job; the actor must hold a live lease on it."""
    specialists = TrainingJob.objects.filter(pk=job_id).values_list("specialist_id", flat=True)
    specialist_id = specialists.first()
    if specialist_id is None:
        raise Http404
    specialist = locked(specialist_id)
    job = TrainingJob.objects.select_for_update(of=("self",)).get(pk=job_id)
    job.specialist = specialist
    if job.status != Status.CLAIMED:
        raise GovernanceBlocked(
            f"{job.id} is {job.status}: claim it first.", code="job_not_claimed"
        )
    if job.claimed_by != str(actor):
        raise GovernanceBlocked(
            f"{job.id} is claimed by {job.claimed_by}, not by {actor}.", code="job_taken"
        )
    if job.lease_expires_at <= timezone.now():
        raise LeaseExpired(f"The lease on {job.id} expired: claim it again.")
    return specialist, job


def _check_lease(job_id: str, actor: Actor) -> None:
    """A lapsed lease is re-queued (committed on its own) before the caller is refused."""
    if training_jobs_requeue_expired(job_ids=[job_id]):
        raise LeaseExpired(f"The lease on {job_id} expired; the job was re-queued: claim it again.")


def _activate(
    specialist: Specialist, job: TrainingJob, actor: Actor, gate: validation_gate.GateResult
):
    """The gate passed: the artifact becomes active through PSMP, then the specialist."""
    now = timezone.now()
    try:
        artifact_transition(
            artifact=specialist.artifact,
            actor=actor,
            to=Artifact.State.ACTIVE,
            reason=f"specialist {specialist.id} passed the validation gate ({job.id})",
        )
    except GovernanceError as exc:  # PSMP refused at the last moment: that stage failed
        stage = next(s for s in gate.stages if s["stage"] == "psmp_compatibility")
        stage.update(passed=False, reason=exc.detail)
        return False
    specialist.activation_score = validation_gate.activation_score(job.metrics)
    specialist.activated_at = specialist.last_activity_at = now
    move(
        specialist,
        Lifecycle.ACTIVE,
        actor,
        f"validation gate passed ({job.id})",
        extra={"training_job_id": job.id, "gate": gate.as_dict()},
        fields=("activation_score", "activated_at", "last_activity_at"),
    )
    return True


def training_job_complete(
    *, job_id: str, actor: Actor, metrics: dict[str, Any]
) -> tuple[TrainingJob, Specialist]:
    """The trainer reports metrics; the validation gate judges them. Initial training: the
    specialist goes training → validation_gating → active, or → blocked with the failing
    stages. Retraining of an active specialist: pass → its activation score is renewed;
    fail → blocked (a drifting model without a validated replacement is not kept)."""
    _require_trainer(actor)
    _check_lease(job_id, actor)
    with transaction.atomic():
        specialist, job = _held(job_id, actor)
        policy = HierarchyPolicy.load()
        job.status = Status.COMPLETED
        job.metrics = metrics
        job.finished_at = timezone.now()
        initial = job.purpose == TrainingJob.Purpose.INITIAL
        if initial:
            move(specialist, Lifecycle.VALIDATION_GATING, actor, f"training job {job.id} completed")
        artifact = specialist.artifact
        blockers = psmp.activation_blockers(artifact) if artifact.state == "draft" else []
        gate = validation_gate.evaluate_gate(metrics, policy.gate_thresholds(), blockers)
        passed = gate.passed
        if passed and initial:
            passed = _activate(specialist, job, actor, gate)
        job.gate = gate.as_dict()
        governed(job).save(update_fields=["status", "metrics", "gate", "finished_at", "updated_at"])
        audit_for(
            "training_job.completed",
            job,
            actor=actor,
            payload={"metrics": metrics, "gate": job.gate},
        )
        if passed and not initial:
            before = specialist.activation_score
            specialist.activation_score = validation_gate.activation_score(metrics)
            specialist.drift_detected_at = None
            governed(specialist).save(
                update_fields=["activation_score", "drift_detected_at", "updated_at"]
            )
            audit_for(
                "specialist.retrained",
                specialist,
                actor=actor,
                payload={
                    "training_job_id": job.id,
                    "before": before,
                    "after": specialist.activation_score,
                },
            )
        elif not passed:
            failed = ", ".join(gate.failed_stages)
            finish(
                specialist,
                Lifecycle.BLOCKED,
                actor,
                f"validation gate failed ({job.id}): {failed}",
                extra={
                    "failed_stages": gate.failed_stages,
                    "gate": job.gate,
                    "training_job_id": job.id,
                },
            )
    return job, specialist


def training_job_fail(*, job_id: str, actor: Actor, reason: str) -> tuple[TrainingJob, Specialist]:
    """The trainer gives up. Initial training: the specialist is blocked with the reason.
    Retraining: the specialist stays active (still flagged for drift)."""
    _require_trainer(actor)
    _check_lease(job_id, actor)
    with transaction.atomic():
        specialist, job = _held(job_id, actor)
        job.status = Status.FAILED
        job.failure_reason = reason
        job.finished_at = timezone.now()
        governed(job).save(update_fields=["status", "failure_reason", "finished_at", "updated_at"])
        audit_for(
            "training_job.failed",
            job,
            actor=actor,
            payload={"from": Status.CLAIMED, "reason": reason, "by_trainer": True},
        )
        if job.purpose == TrainingJob.Purpose.INITIAL:
            finish(specialist, Lifecycle.BLOCKED, actor, f"training job {job.id} failed: {reason}")
    return job, specialist
