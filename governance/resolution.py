"""Resolving conflicts: the one write path for the API, the dashboard and admin actions."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from compliance.audit import audit_record, mark_audited
from governance.actors import Actor
from governance.models import Conflict
from governance.permissions import actor_can
from metaqore_site.api.exceptions import GovernanceBlocked, GovernanceForbidden

HIGH_SEVERITIES = (Conflict.Severity.HIGH, Conflict.Severity.CRITICAL)


def conflict_audit(
    event_type: str, conflict: Conflict, actor: Actor, payload: dict, *, task_type: str = ""
) -> None:
    """The audit event of a conflict's change (detected, resolved, escalated)."""
    audit_record(
        event_type=event_type,
        actor=actor,
        resource_type="conflict",
        resource_id=conflict.id,
        project_id=conflict.project_id,
        task_type=task_type,
        payload={"artifact_id": conflict.artifact_id, **payload},
    )


def conflicts_close(
    *, conflicts: QuerySet[Conflict] | Iterable[Conflict], actor: Actor, strategy: str, note: str
) -> int:
    """Resolve conflicts as a side effect of the artifact's own lifecycle (no permission check:
    the caller was allowed to change the artifact)."""
    now = timezone.now()
    count = 0
    for conflict in conflicts:
        conflict.status = Conflict.Status.RESOLVED
        conflict.resolution_strategy = strategy
        conflict.resolved_by = str(actor)
        conflict.resolved_at = now
        conflict.note = note
        mark_audited(conflict).save(
            update_fields=["status", "resolution_strategy", "resolved_by", "resolved_at", "note"]
        )
        conflict_audit("conflict.resolved", conflict, actor, {"strategy": strategy, "note": note})
        count += 1
    return count


def check_can_resolve(conflict: Conflict, actor: Actor, strategy: str) -> None:
    if not actor_can(actor, "resolve_conflict"):
        raise GovernanceForbidden("Your role cannot resolve conflicts.", code="role_forbidden")
    if (
        strategy == Conflict.Strategy.OVERRIDE
        and conflict.severity in HIGH_SEVERITIES
        and not (actor.kind == "system" or actor_can(actor, "override_high"))
    ):
        raise GovernanceForbidden(
            f"Overriding a {conflict.severity} conflict needs a compliance_officer or "
            "org_admin user (separation of duties).",
            code="separation_of_duties",
        )


@transaction.atomic
def conflict_resolve(
    *, conflict: Conflict, actor: Actor, strategy: str, note: str = ""
) -> Conflict:
    """Apply a resolution strategy; unblock or archive the artifact as the strategy says."""
    from artifacts.models import Artifact
    from artifacts.services import artifact_transition

    if strategy not in Conflict.Strategy.values:
        raise ValueError(f"Unknown strategy '{strategy}'.")
    conflict = Conflict.objects.select_for_update().get(pk=conflict.pk)
    check_can_resolve(conflict, actor, strategy)
    if conflict.status == Conflict.Status.RESOLVED:
        raise GovernanceBlocked(f"{conflict.id} is already resolved.", code="already_resolved")
    if strategy == Conflict.Strategy.ESCALATE:
        if conflict.status == Conflict.Status.ESCALATED:
            raise GovernanceBlocked(
                f"{conflict.id} is already escalated.", code="already_escalated"
            )
        conflict.status = Conflict.Status.ESCALATED
        conflict.note = note
        mark_audited(conflict).save(update_fields=["status", "note"])
        conflict_audit("conflict.escalated", conflict, actor, {"note": note})
        return conflict

    conflict.status = Conflict.Status.RESOLVED
    conflict.resolution_strategy = strategy
    conflict.resolved_by = str(actor)
    conflict.resolved_at = timezone.now()
    conflict.note = note
    mark_audited(conflict).save(
        update_fields=["status", "resolution_strategy", "resolved_by", "resolved_at", "note"]
    )
    conflict_audit("conflict.resolved", conflict, actor, {"strategy": strategy, "note": note})

    artifact = Artifact.objects.select_for_update().get(pk=conflict.artifact_id)
    if strategy == Conflict.Strategy.RETRY:
        if artifact.state != Artifact.State.ARCHIVED:
            reason = f"conflict {conflict.id} resolved with retry: the agent resubmits"
            artifact_transition(artifact=artifact, actor=actor, to="archived", reason=reason)
    elif (
        artifact.is_blocked
        and not artifact.conflicts.filter(status__in=Conflict.UNRESOLVED).exists()
    ):
        artifact_unblock(artifact=artifact, actor=actor, reason=f"{conflict.id} resolved")
    return conflict


def artifact_unblock(*, artifact, actor: Actor, reason: str) -> None:
    artifact.is_blocked = False
    artifact._governed = True
    artifact.save(update_fields=["is_blocked", "updated_at"])
    audit_record(
        event_type="artifact.unblocked",
        actor=actor,
        resource_type="artifact",
        resource_id=artifact.id,
        project_id=artifact.project_id,
        task_type=artifact.artifact_type,
        payload={"reason": reason},
    )
    # A specialist model waiting on this block continues to training (HMCP).
    from governance.specialists.services import specialist_artifact_changed

    specialist_artifact_changed(artifact=artifact, actor=actor, reason=reason)
