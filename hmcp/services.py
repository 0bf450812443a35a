"""The write paths of HMCP specialists: propose, deprecate or block, follow the artifact's
PSMP fate, observe, retire. Each is atomic, takes a keyword-only ``actor`` and writes its
audit events in the same transaction. Training jobs and the validation gate are in
``training.py``; the skill registry and the hierarchy policy in ``registry.py``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from access.actors import Actor
from access.permissions import actor_can
from artifacts.models import Artifact
from artifacts.services import DeclarationResult, artifact_declare
from compliance.audit import audit_for, audit_record
from hmcp import rules, validation_gate
from hmcp.lifecycle import (
    finish,
    governed,
    history_entry,
    locked,
    move,
    queue_job,
    start_training,
)
from hmcp.models import (
    HierarchyPolicy,
    Skill,
    Specialist,
    TrainingJob,
    is_specialist_line,
    specialist_line,
)
from metaqore_site.errors import GovernanceBlocked, GovernanceForbidden, IllegalTransition
from projects.models import Project

Lifecycle = Specialist.Lifecycle
REQUESTABLE = (Lifecycle.DEPRECATED, Lifecycle.BLOCKED)


def require(actor: Actor, action: str, message: str) -> None:
    if not actor_can(actor, action):
        raise GovernanceForbidden(message, code="role_forbidden")


# --- evaluation (read only) --------------------------------------------------------------------


def specialist_evaluate(
    *, proposal: rules.Proposal, policy: HierarchyPolicy | None = None
) -> tuple[rules.Evaluation, Skill | None]:
    """Evaluate a proposal against the registry and the hierarchy policy; no side effects.
    Three indexed reads at most: the skill, the teachers that are active specialists, the
    parent specialist."""
    policy = policy or HierarchyPolicy.load()
    skill = Skill.objects.filter(skill_id=proposal.skill_id).first()
    taught = [
        teacher.removeprefix(rules.SPECIALIST_TEACHER_PREFIX)
        for teacher in proposal.teachers
        if teacher.startswith(rules.SPECIALIST_TEACHER_PREFIX)
    ]
    active_skills: frozenset[str] = frozenset()
    if taught:
        active_skills = frozenset(
            Specialist.objects.filter(skill__skill_id__in=taught, lifecycle=Lifecycle.ACTIVE)
            .values_list("skill__skill_id", flat=True)
            .distinct()
        )
    parent = None
    if proposal.parent_specialist_id:
        row = (
            Specialist.objects.filter(pk=proposal.parent_specialist_id)
            .values("id", "level", "lifecycle")
            .first()
        )
        parent = rules.ParentFacts(**row) if row else None
    evaluation = rules.evaluate_proposal(
        proposal,
        skill=skill.facts() if skill else None,
        rules=policy.hierarchy_rules(),
        active_specialist_skills=active_skills,
        parent=parent,
    )
    return evaluation, skill


# --- proposing ---------------------------------------------------------------------------------


@dataclass
class ProposalResult:
    evaluation: rules.Evaluation
    skill: Skill | None
    specialist: Specialist | None = None
    declaration: DeclarationResult | None = None
    training_job: TrainingJob | None = None
    conflicts: list = field(default_factory=list)

    @property
    def refused(self) -> bool:
        return self.specialist is None

    @property
    def outcome(self) -> str:
        if self.refused:
            return "refused"
        assert self.declaration is not None  # a proposed specialist is always declared
        return self.declaration.outcome


@transaction.atomic
def specialist_propose(
    *,
    actor: Actor,
    project: Project,
    proposal: rules.Proposal,
    data: dict | None = None,
    metadata: dict | None = None,
) -> ProposalResult:
    """Evaluate; refused → ``specialist.refused`` and nothing else. Allowed → the specialist
    is proposed, declared as an artifact of line ``specialist_model:<skill>:<level>`` (PSMP
    conflict checks run), and, unless PSMP blocks it, queued for training."""
    require(actor, "write_work", "Your role cannot propose specialists.")
    policy = HierarchyPolicy.load()
    evaluation, skill = specialist_evaluate(proposal=proposal, policy=policy)
    proposal_payload = asdict(proposal)
    if not evaluation.allowed:
        audit_record(
            event_type="specialist.refused",
            actor=actor,
            resource_type="specialist",
            project_id=project.id,
            task_type=f"specialist_model:{proposal.skill_id}",
            payload={
                "proposal": proposal_payload,
                "reasons": [reason.as_dict() for reason in evaluation.reasons],
            },
        )
        return ProposalResult(evaluation, skill)

    # Allowed: the skill is registered and the proposal has a level (rules.evaluate_proposal).
    assert skill is not None and evaluation.target_level is not None
    level = evaluation.target_level.identifier
    specialist = Specialist(
        skill=skill,
        level=level,
        parent_id=proposal.parent_specialist_id,
        project=project,
        teachers=list(proposal.teachers),
        parameter_count=proposal.parameter_count,
        requested_size_mb=proposal.requested_size_mb,
        confidence=proposal.confidence,
        task_isolation_passed=proposal.task_isolation_passed,
        created_by=str(actor),
        lifecycle=Lifecycle.PROPOSED,
        lifecycle_history=[history_entry(Lifecycle.PROPOSED, actor, "proposal allowed")],
    )
    audit_for(
        "specialist.proposed",
        specialist,
        actor=actor,
        payload={"proposal": proposal_payload, "spawn_decision": evaluation.spawn_decision},
    )
    declaration = artifact_declare(
        actor=actor,
        project=project,
        artifact_type=specialist_line(skill.skill_id, level),
        data=data or {},
        metadata={
            **(metadata or {}),
            "specialist": {"id": specialist.id, "skill_id": skill.skill_id, "level": level},
        },
    )
    specialist.artifact = declaration.artifact
    governed(specialist).save(force_insert=True)
    move(
        specialist,
        Lifecycle.PSMP_VALIDATING,
        actor,
        f"declared as {declaration.artifact.id}: PSMP {declaration.outcome}",
        extra={
            "artifact_id": declaration.artifact.id,
            "psmp_outcome": declaration.outcome,
            "conflicts": [conflict.id for conflict in declaration.conflicts],
        },
    )
    job = None
    if not declaration.artifact.is_blocked:
        job = start_training(specialist, actor, "PSMP check passed")
    return ProposalResult(evaluation, skill, specialist, declaration, job, declaration.conflicts)


# --- requested moves and the artifact's PSMP fate ----------------------------------------------


@transaction.atomic
def specialist_transition(
    *, specialist: Specialist, actor: Actor, to: str, reason: str = ""
) -> Specialist:
    """Deprecate (from active) or block (from any non-terminal state, with a reason).
    ``active`` is reached only through the validation gate."""
    require(actor, "write_work", "Your role cannot change specialists.")
    if to not in REQUESTABLE:
        raise IllegalTransition(
            f"A specialist can be moved to {' or '.join(REQUESTABLE)} only; it becomes active "
            "only through the validation gate.",
            code="illegal_transition",
        )
    reason = reason.strip()
    if to == Lifecycle.BLOCKED and not reason:
        raise GovernanceBlocked("Blocking a specialist needs a reason.", code="reason_required")
    specialist = locked(specialist)
    finish(specialist, to, actor, reason or "requested")
    return specialist


def specialist_artifact_changed(*, artifact: Artifact, actor: Actor, reason: str = "") -> None:
    """Keep a specialist in step with its artifact when PSMP moves the artifact (conflict
    resolved, archived from the artifacts API or superseded): called by artifacts.services and
    governance.resolution inside their transactions."""
    if not is_specialist_line(artifact.artifact_type):
        return
    found = Specialist.objects.filter(artifact_id=artifact.pk).values_list("pk", flat=True).first()
    if found is None:
        return
    specialist = locked(found)
    if specialist.lifecycle in Specialist.TERMINAL:
        return
    if artifact.state == Artifact.State.ARCHIVED:
        target = (
            Lifecycle.DEPRECATED if specialist.lifecycle == Lifecycle.ACTIVE else Lifecycle.BLOCKED
        )
        finish(specialist, target, actor, f"its artifact {artifact.id} was archived: {reason}")
    elif (
        artifact.state == Artifact.State.DRAFT
        and not artifact.is_blocked
        and specialist.lifecycle == Lifecycle.PSMP_VALIDATING
    ):
        start_training(specialist, actor, f"PSMP block lifted: {reason}")


# --- observability -----------------------------------------------------------------------------


@dataclass
class ObservationResult:
    specialist: Specialist
    drift: dict[str, Any] | None


@transaction.atomic
def specialist_observe(
    *,
    specialist: Specialist,
    actor: Actor,
    invocations: int,
    avg_confidence: float | None = None,
    golden_set_score: float | None = None,
) -> ObservationResult:
    """Record usage of an active specialist. A golden-set score more than ``drift_max_drop``
    (5%) below the score at activation queues a retraining job; the specialist stays active."""
    require(actor, "write_work", "Your role cannot report observations.")
    specialist = locked(specialist)
    if specialist.lifecycle != Lifecycle.ACTIVE:
        raise GovernanceBlocked(
            f"{specialist.id} is {specialist.lifecycle}: only active specialists are observed.",
            code="not_active",
        )
    now = timezone.now()
    specialist.invocations += invocations
    changed = ["invocations"]
    if invocations > 0:
        specialist.last_activity_at = now
        changed.append("last_activity_at")
    if avg_confidence is not None:
        specialist.last_avg_confidence = avg_confidence
        changed.append("last_avg_confidence")
    if golden_set_score is not None:
        specialist.last_golden_set_score = golden_set_score
        changed.append("last_golden_set_score")

    drift: dict[str, Any] | None = None
    policy = HierarchyPolicy.load()
    if golden_set_score is not None and validation_gate.drift_detected(
        specialist.activation_score, golden_set_score, policy.drift_max_drop
    ):
        drop = validation_gate.drift_drop(specialist.activation_score, golden_set_score)
        assert drop is not None  # drift_detected: there is a drop
        drift = {
            "activation_score": specialist.activation_score,
            "golden_set_score": golden_set_score,
            "drop": round(drop, 6),
            "max_drop": policy.drift_max_drop,
        }
        if specialist.drift_detected_at is None:
            specialist.drift_detected_at = now
            changed.append("drift_detected_at")
    governed(specialist).save(update_fields=[*changed, "updated_at"])
    audit_for(
        "specialist.observed",
        specialist,
        actor=actor,
        payload={
            "invocations": invocations,
            "avg_confidence": avg_confidence,
            "golden_set_score": golden_set_score,
            "total_invocations": specialist.invocations,
            "drift": drift is not None,
        },
    )
    if drift is not None:
        open_job = specialist.training_jobs.filter(status__in=TrainingJob.OPEN).first()
        if open_job is None:
            job = queue_job(
                specialist,
                actor,
                TrainingJob.Purpose.RETRAINING,
                f"drift: golden-set score {golden_set_score:g} is {drift['drop']:.1%} below "
                f"{specialist.activation_score:g} at activation",
            )
            drift.update(training_job_id=job.id, new_job=True)
            audit_for("specialist.drift_detected", specialist, actor=actor, payload=drift)
        else:
            drift.update(training_job_id=open_job.id, new_job=False)
    return ObservationResult(specialist, drift)


# --- retirement --------------------------------------------------------------------------------


def specialists_retire_idle(
    *, actor: Actor, dry_run: bool = False, limit: int = 10_000
) -> list[tuple[str, str]]:
    """Deprecate active specialists with no invocation for ``retire_after_days`` (30) days
    since their last invocation or activation. One transaction per specialist, re-checked
    under its lock; returns ``(specialist id, reason)`` pairs."""
    policy = HierarchyPolicy.load()
    days = policy.retire_after_days
    cutoff = timezone.now() - timedelta(days=days)
    # Served by the (lifecycle, last_activity_at) index.
    candidates = list(
        Specialist.objects.filter(lifecycle=Lifecycle.ACTIVE, last_activity_at__lt=cutoff)
        .order_by("last_activity_at")
        .values_list("pk", "last_activity_at")[:limit]
    )
    retired = []
    for pk, last in candidates:
        reason = f"no invocations for {days} days (last activity {last.isoformat()})"
        if dry_run:
            retired.append((pk, reason))
            continue
        with transaction.atomic():
            specialist = locked(pk)
            if specialist.lifecycle != Lifecycle.ACTIVE:
                continue  # changed since the query
            assert specialist.last_activity_at is not None  # the query saw it set; never cleared
            if specialist.last_activity_at >= cutoff:
                continue  # used since the query
            finish(specialist, Lifecycle.DEPRECATED, actor, reason)
        retired.append((pk, reason))
    return retired
