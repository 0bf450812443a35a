"""The periodic drift check: an active specialist whose last golden-set score is more than the
hierarchy policy's ``drift_max_drop`` below its activation score must have a retraining job.

Observations (``specialist_observe``) already queue one when they see the drop; the check
catches what they cannot: a retraining job that failed while the specialist stays flagged, and
a policy whose ``drift_max_drop`` was tightened after the last observation.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from access.actors import Actor
from compliance.audit import audit_for
from hmcp import validation_gate
from hmcp.lifecycle import governed, locked, queue_job
from hmcp.models import HierarchyPolicy, Specialist, TrainingJob

Lifecycle = Specialist.Lifecycle


def _drift(specialist: Specialist, max_drop: float) -> float | None:
    """The drop of ``specialist``'s last golden-set score past ``max_drop``, or None."""
    score = specialist.last_golden_set_score
    if score is None or not validation_gate.drift_detected(
        specialist.activation_score, score, max_drop
    ):
        return None
    return validation_gate.drift_drop(specialist.activation_score, score)


def specialists_check_drift(*, actor: Actor, limit: int = 10_000) -> list[str]:
    """Queue a retraining job for each drifting active specialist that has no open job (one
    transaction each, re-checked under its lock); returns their ids."""
    max_drop = HierarchyPolicy.load().drift_max_drop
    open_jobs = TrainingJob.objects.filter(specialist=OuterRef("pk"), status__in=TrainingJob.OPEN)
    candidates = (
        Specialist.objects.filter(
            lifecycle=Lifecycle.ACTIVE,
            last_golden_set_score__isnull=False,
            activation_score__isnull=False,
        )
        .exclude(Exists(open_jobs))
        .order_by("pk")
        .only("pk", "activation_score", "last_golden_set_score")[:limit]
    )
    queued = []
    for candidate in candidates:
        if _drift(candidate, max_drop) is None:
            continue
        with transaction.atomic():
            specialist = locked(candidate.pk)
            drop = _drift(specialist, max_drop)
            if specialist.lifecycle != Lifecycle.ACTIVE or drop is None:
                continue  # changed since the query
            if specialist.training_jobs.filter(status__in=TrainingJob.OPEN).exists():
                continue
            reason = (
                f"drift check: golden-set score {specialist.last_golden_set_score:g} is "
                f"{drop:.1%} below {specialist.activation_score:g} at activation"
            )
            job = queue_job(specialist, actor, TrainingJob.Purpose.RETRAINING, reason)
            if specialist.drift_detected_at is None:
                specialist.drift_detected_at = timezone.now()
                governed(specialist).save(update_fields=["drift_detected_at", "updated_at"])
            audit_for(
                "specialist.drift_detected",
                specialist,
                actor=actor,
                payload={
                    "activation_score": specialist.activation_score,
                    "golden_set_score": specialist.last_golden_set_score,
                    "drop": round(drop, 6),
                    "max_drop": max_drop,
                    "training_job_id": job.id,
                    "new_job": True,
                    "by_check": True,
                },
            )
        queued.append(specialist.pk)
    return queued
