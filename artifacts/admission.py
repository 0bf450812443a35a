"""The policy's decision on a declaration: evaluate the conflicts it raised (waivers, then the
first matching rule, then the mode), store each conflict with its verdict, and append the
decision to the log. Called by ``artifacts.services`` inside the declaration's transaction.

Cost: one query for the waivers in force (only when conflicts were detected) and one INSERT
for the decision, whatever the size of the project or of the log. The rows are written before
the events: the first event locks the org's audit chain until commit, and every other write of
the org waits for that lock, so the less that follows it, the less they wait.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db.models import QuerySet

from access.actors import Actor
from artifacts.conflicts import DetectedConflict
from artifacts.models import Artifact, Conflict
from compliance.audit import audit_for
from governance.models import AdmissionDecision, GovernancePolicy
from governance.rules import ConflictFacts, Evaluation, Verdict, evaluate
from governance.waivers import waiver_record_use, waiver_terms, waivers_in_force
from metaqore_site.governed import mark_audited


def conflict_facts(artifact: Artifact, found: DetectedConflict) -> ConflictFacts:
    """What rules match on: the conflict, and the declaration it came from. Paths are the
    conflict's own (a path collision) or else the declaration's."""
    paths = found.details.get("paths") or artifact.file_paths
    return ConflictFacts(
        conflict_type=found.conflict_type,
        severity=found.severity,
        project_id=artifact.project_id,
        artifact_type=artifact.artifact_type,
        agent=artifact.created_by,
        paths=tuple(paths),
    )


def active_waivers(now: datetime) -> QuerySet:
    return waivers_in_force(now).order_by("created_at", "id")


def admission_evaluate(
    *,
    artifact: Artifact,
    detected: Sequence[DetectedConflict],
    actor: Actor,
    policy: GovernancePolicy,
    now: datetime,
) -> tuple[list[ConflictFacts], Evaluation]:
    facts = [conflict_facts(artifact, found) for found in detected]
    waivers = waiver_terms(list(active_waivers(now))) if facts else []
    evaluation = evaluate(
        facts,
        mode=policy.mode,
        rules=policy.rules,
        waivers=waivers,
        privileged=str(actor) if actor.is_privileged else None,
    )
    return facts, evaluation


STATUS_OF = {
    "enforce": Conflict.Status.OPEN,
    "warn": Conflict.Status.OPEN,
    "dryrun": Conflict.Status.DRYRUN,
    "auto_resolve": Conflict.Status.RESOLVED,
    "waived": Conflict.Status.RESOLVED,
}


def _conflict(
    artifact: Artifact, found: DetectedConflict, verdict: Verdict, decision_id: str, now: datetime
) -> Conflict:
    resolved = STATUS_OF[verdict.action] == Conflict.Status.RESOLVED
    details = dict(found.details)
    if verdict.waiver_id:
        details["waiver_id"] = verdict.waiver_id
    if verdict.note:
        details["policy_note"] = verdict.note
    strategy: str
    if verdict.action == "waived":
        strategy, note = Conflict.Strategy.WAIVED, f"waived by {verdict.waiver_id}"
    elif resolved:
        strategy, note = Conflict.Strategy.OVERRIDE, "auto-resolved on declaration"
    else:
        strategy, note = "", ""
    return Conflict(
        project_id=artifact.project_id,
        artifact=artifact,
        conflict_type=found.conflict_type,
        severity=found.severity,
        description=found.description,
        details=details,
        hint=found.hint,
        suggested_strategy=found.suggested_strategy,
        status=STATUS_OF[verdict.action],
        resolution_strategy=strategy,
        resolved_by=(verdict.resolver or "") if resolved else "",
        resolved_at=now if resolved else None,
        note=note,
        rule_id=verdict.rule_id,
        action=verdict.action,
        decision_id=decision_id,
    )


def _resolved_payload(conflict: Conflict, verdict: Verdict) -> dict:
    payload: dict = {
        "strategy": conflict.resolution_strategy,
        "resolved_by": verdict.resolver,
        "automatic": True,
        "rule_id": verdict.rule_id,
    }
    if verdict.waiver_id:
        payload["waiver_id"] = verdict.waiver_id
    if verdict.rule_id and conflict.severity in ("high", "critical"):
        # Separation of duties: only a rule an org_admin wrote resolves HIGH/CRITICAL at once.
        payload["separation_of_duties"] = {
            "rule_author": verdict.rule_author,
            "author_role": "org_admin",
        }
    return payload


def _events_append(
    *,
    artifact: Artifact,
    conflicts: Sequence[Conflict],
    evaluation: Evaluation,
    actor: Actor,
    decision_id: str,
    now: datetime,
) -> None:
    """The events of the stored conflicts: each detected (and resolved, when a rule or waiver
    resolved it at once), and each waiver used."""
    line = artifact.artifact_type
    for conflict, verdict in zip(conflicts, evaluation.verdicts, strict=True):
        detected_payload = {
            "conflict_type": conflict.conflict_type,
            "severity": conflict.severity,
            "details": conflict.details,
            "rule_id": verdict.rule_id,
            "action": verdict.action,
            "decision_id": decision_id,
        }
        audit_for(
            "conflict.detected", conflict, actor=actor, payload=detected_payload, task_type=line
        )
        if conflict.status == Conflict.Status.RESOLVED:
            audit_for(
                "conflict.resolved",
                conflict,
                actor=actor,
                payload=_resolved_payload(conflict, verdict),
                task_type=line,
            )
        if verdict.waiver_id:
            waiver_record_use(
                waiver_id=verdict.waiver_id,
                conflict_id=conflict.id,
                artifact_id=artifact.id,
                actor=actor,
                now=now,
            )


def admission_record(
    *,
    event_type: str,
    event_payload: dict,
    artifact: Artifact,
    detected: Sequence[DetectedConflict],
    facts: Sequence[ConflictFacts],
    evaluation: Evaluation,
    actor: Actor,
    policy: GovernancePolicy,
    decision_id: str,
    kind: str,
    outcome: str,
    held: bool,
    now: datetime,
) -> list[Conflict]:
    """Store the conflicts with their verdicts and the decision, then append the artifact's
    event (``event_type``: declared, updated) and the conflicts' events."""
    # Rows first: the first event locks the org's audit chain until commit.
    stored = []
    for found, verdict in zip(detected, evaluation.verdicts, strict=True):
        conflict = _conflict(artifact, found, verdict, decision_id, now)
        mark_audited(conflict).save(force_insert=True)
        stored.append(conflict)
    AdmissionDecision(
        id=decision_id,
        created_at=now,
        kind=kind,
        actor=str(actor),
        actor_privileged=actor.is_privileged,
        project_id=artifact.project_id,
        artifact_id=artifact.id,
        artifact_type=artifact.artifact_type,
        agent=artifact.created_by,
        file_paths=artifact.file_paths,
        policy_revision=policy.revision,
        mode=policy.mode,
        conflicts=[
            {
                "conflict_id": conflict.id,
                "conflict_type": fact.conflict_type,
                "severity": fact.severity,
                "paths": list(found.details.get("paths") or []),
                "details": conflict.details,
                "rule_id": verdict.rule_id,
                "action": verdict.action,
                "waiver_id": verdict.waiver_id,
            }
            for conflict, found, fact, verdict in zip(
                stored, detected, facts, evaluation.verdicts, strict=True
            )
        ],
        rule_ids=sorted({v.rule_id for v in evaluation.verdicts if v.rule_id}),
        outcome=outcome,
        held=held,
    ).save(force_insert=True)
    audit_for(event_type, artifact, actor=actor, payload=event_payload)
    _events_append(
        artifact=artifact,
        conflicts=stored,
        evaluation=evaluation,
        actor=actor,
        decision_id=decision_id,
        now=now,
    )
    return stored
