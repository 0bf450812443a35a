"""Resolving conflicts: the one write path for the API, the dashboard and admin actions.

A human (or privileged agent) decides; the artifact then moves through artifacts.services.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from access.actors import Actor
from access.permissions import actor_can
from artifacts.models import Artifact, Conflict
from artifacts.services import artifact_transition, artifact_unblock
from compliance.audit import audit_for
from metaqore_site.errors import GovernanceBlocked, GovernanceForbidden
from metaqore_site.governed import mark_audited

HIGH_SEVERITIES = (Conflict.Severity.HIGH, Conflict.Severity.CRITICAL)


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
    if strategy not in Conflict.RESOLUTION_STRATEGIES:
        raise ValueError(f"Unknown strategy '{strategy}'.")
    conflict = Conflict.objects.select_for_update().get(pk=conflict.pk)
    check_can_resolve(conflict, actor, strategy)
    if conflict.status == Conflict.Status.RESOLVED:
        raise GovernanceBlocked(f"{conflict.id} is already resolved.", code="already_resolved")
    if conflict.status == Conflict.Status.DRYRUN:
        raise GovernanceBlocked(
            f"{conflict.id} was recorded by dry-run rule '{conflict.rule_id}': it blocks "
            "nothing and needs no resolution.",
            code="dryrun_conflict",
        )
    if strategy == Conflict.Strategy.ESCALATE:
        if conflict.status == Conflict.Status.ESCALATED:
            raise GovernanceBlocked(
                f"{conflict.id} is already escalated.", code="already_escalated"
            )
        conflict.status = Conflict.Status.ESCALATED
        conflict.note = note
        mark_audited(conflict).save(update_fields=["status", "note"])
        audit_for("conflict.escalated", conflict, actor=actor, payload={"note": note})
        return conflict

    conflict.status = Conflict.Status.RESOLVED
    conflict.resolution_strategy = strategy
    conflict.resolved_by = str(actor)
    conflict.resolved_at = timezone.now()
    conflict.note = note
    mark_audited(conflict).save(
        update_fields=["status", "resolution_strategy", "resolved_by", "resolved_at", "note"]
    )
    audit_for(
        "conflict.resolved", conflict, actor=actor, payload={"strategy": strategy, "note": note}
    )

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
