"""The one write path for artifacts: declare, update a draft, transition, unblock, delete,
and the conflicts a declaration stores or its lifecycle closes.

API views, the admin, commands and plain ``Artifact.save()`` calls from the shell all end up
here, so every artifact is governed (conflict checks, PSMP lifecycle) and audited in the same
transaction as the change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from access.actors import Actor
from artifacts import psmp
from artifacts.admission import admission_evaluate, admission_record
from artifacts.conflicts import (
    Declaration,
    detect_conflicts,
    normalize_path,
    normalize_requirements,
)
from artifacts.models import Artifact, Conflict
from artifacts.signals import artifact_changed
from compliance.audit import audit_for
from governance.models import AdmissionDecision, GovernancePolicy, new_decision_id
from metaqore_site.compiled_query import CompiledQuery
from metaqore_site.errors import GovernanceBlocked, GovernanceBypassError, IllegalTransition
from metaqore_site.governed import mark_audited
from projects.models import Project


@dataclass
class DeclarationResult:
    artifact: Artifact
    outcome: str
    mode: str
    conflicts: list[Conflict]  # detected by this declaration (auto-resolved ones included)
    decision_id: str | None = None  # the decision log's entry (None: nothing was decided)


def content_hash(data: Any) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def normalize_content(*, file_paths: list[str], requirements: dict[str, str]):
    try:
        paths = list(dict.fromkeys(normalize_path(path) for path in file_paths))
    except ValueError as exc:
        raise ValidationError({"file_paths": [str(exc)]}) from exc
    try:
        packages = normalize_requirements(requirements)
    except ValueError as exc:
        raise ValidationError({"requirements": [str(exc)]}) from exc
    return paths, packages


def declared_by(actor: Actor, on_behalf_of: str | None) -> str:
    """Who declared it: the credential's identity; a privileged client may name an agent."""
    if on_behalf_of and actor.is_privileged:
        return on_behalf_of if ":" in on_behalf_of else f"agent:{on_behalf_of}"
    return str(actor)


# Served by the (project, artifact_type, version) unique index: one backward index probe.
_LATEST_VERSION = CompiledQuery(
    lambda project_id, artifact_type: (
        Artifact.objects.filter(project_id=project_id, artifact_type=artifact_type)
        .order_by("-version")
        .values("version")[:1]
    )
)


def next_version(project_id: str, artifact_type: str) -> int:
    latest = _LATEST_VERSION.first(project_id=project_id, artifact_type=artifact_type)
    return latest["version"] + 1 if latest else 1


@transaction.atomic
def artifact_declare(
    *,
    actor: Actor,
    project: Project,
    artifact_type: str,
    data: dict,
    version: int | None = None,
    created_by: str | None = None,
    depends_on: list[str] | None = None,
    file_paths: list[str] | None = None,
    requirements: dict[str, str] | None = None,
    metadata: dict | None = None,
    now: datetime | None = None,
) -> DeclarationResult:
    """Declare an artifact: conflict checks, the policy's decision (logged), the audit trail.
    ``now`` is the decision's time (waivers in force then apply); tests move it."""
    paths, packages = normalize_content(
        file_paths=file_paths or [], requirements=requirements or {}
    )
    artifact = Artifact(
        project=project,
        artifact_type=artifact_type,
        data=data,
        created_by=declared_by(actor, created_by),
        depends_on=list(dict.fromkeys(depends_on or [])),
        file_paths=paths,
        requirements=packages,
        metadata=metadata or {},
        content_hash=content_hash(data),
    )
    # Serialize declarations that touch the same line, paths or packages of this project.
    psmp.lock_scopes(project.id, psmp.declaration_scopes(artifact))
    now = now or timezone.now()
    policy = GovernancePolicy.load()
    expected = next_version(project.id, artifact_type)
    artifact.version = expected  # a stale or taken version is stored under the next free one
    detected = detect_conflicts(
        Declaration(artifact=artifact, declared_version=version, expected_version=expected)
    )
    facts, evaluation = admission_evaluate(
        artifact=artifact, detected=detected, actor=actor, policy=policy, now=now
    )
    artifact.is_blocked = evaluation.blocked
    artifact.full_clean(exclude=["project"], validate_unique=False, validate_constraints=False)
    artifact._governed = True
    artifact.save(force_insert=True)
    decision_id = new_decision_id()
    conflicts = admission_record(
        event_type="artifact.declared",
        event_payload={
            "version": artifact.version,
            "declared_version": version,
            "created_by": artifact.created_by,
            "content_hash": artifact.content_hash,
            "outcome": evaluation.outcome,
            "mode": policy.mode,
            "decision_id": decision_id,
            "policy_revision": policy.revision,
        },
        artifact=artifact,
        detected=detected,
        facts=facts,
        evaluation=evaluation,
        actor=actor,
        policy=policy,
        decision_id=decision_id,
        kind=AdmissionDecision.Kind.DECLARE,
        outcome=evaluation.outcome,
        held=False,
        now=now,
    )
    return DeclarationResult(artifact, evaluation.outcome, policy.mode, conflicts, decision_id)


def _locked(artifact: Artifact) -> Artifact:
    return Artifact.objects.select_for_update().select_related("project").get(pk=artifact.pk)


@transaction.atomic
def artifact_update_draft(
    *, artifact: Artifact, actor: Actor, changes: dict[str, Any]
) -> DeclarationResult:
    """Change the content of a draft and re-run every conflict check."""
    unknown = set(changes) - set(Artifact.CONTENT_FIELDS)
    if unknown:
        raise GovernanceBypassError(
            f"{', '.join(sorted(unknown))} cannot be changed; only {Artifact.CONTENT_FIELDS}."
        )
    artifact = _locked(artifact)
    policy = GovernancePolicy.load()
    if artifact.state != Artifact.State.DRAFT:
        raise GovernanceBlocked(
            f"{artifact.id} is {artifact.state}: only drafts change; declare a new version.",
            code="not_a_draft",
        )
    changes = dict(changes)
    if "file_paths" in changes or "requirements" in changes:
        paths, packages = normalize_content(
            file_paths=changes.get("file_paths", artifact.file_paths),
            requirements=changes.get("requirements", artifact.requirements),
        )
        changes.update(file_paths=paths, requirements=packages)
    if "depends_on" in changes:
        changes["depends_on"] = list(dict.fromkeys(changes["depends_on"]))
    before = {name: getattr(artifact, name) for name in changes}
    changed = [name for name, value in changes.items() if before[name] != value]
    if not changed:
        unresolved = artifact.conflicts.filter(status__in=Conflict.UNRESOLVED)
        outcome = "blocked" if artifact.is_blocked else "accepted"
        return DeclarationResult(artifact, outcome, policy.mode, list(unresolved))

    for name in changed:
        setattr(artifact, name, changes[name])
    artifact.content_hash = content_hash(artifact.data)
    psmp.lock_scopes(
        artifact.project_id, psmp.declaration_scopes(artifact, graph="depends_on" in changed)
    )
    # The agent re-declared: its open conflicts are superseded by a fresh check; conflicts a
    # human escalated stay until a human resolves them.
    conflicts_close(
        conflicts=artifact.conflicts.filter(status=Conflict.Status.OPEN),
        actor=actor,
        strategy=Conflict.Strategy.RETRY,
        note="superseded by an update of the draft",
    )
    detected = detect_conflicts(Declaration(artifact=artifact, is_update=True))
    now = timezone.now()
    facts, evaluation = admission_evaluate(
        artifact=artifact, detected=detected, actor=actor, policy=policy, now=now
    )
    escalated = artifact.conflicts.filter(status=Conflict.Status.ESCALATED).exists()
    artifact.is_blocked = evaluation.blocked or escalated
    artifact.full_clean(exclude=["project"], validate_unique=False, validate_constraints=False)
    artifact._governed = True
    artifact.save()
    decision_id = new_decision_id()
    outcome = "blocked" if artifact.is_blocked else evaluation.outcome
    conflicts = admission_record(
        event_type="artifact.updated",
        event_payload={
            "before": {name: before[name] for name in changed},
            "after": {name: changes[name] for name in changed},
            "outcome": evaluation.outcome,
            "decision_id": decision_id,
            "policy_revision": policy.revision,
        },
        artifact=artifact,
        detected=detected,
        facts=facts,
        evaluation=evaluation,
        actor=actor,
        policy=policy,
        decision_id=decision_id,
        kind=AdmissionDecision.Kind.UPDATE,
        outcome=outcome,
        held=escalated,
        now=now,
    )
    if not artifact.is_blocked:
        artifact_changed.send(
            Artifact,
            artifact=artifact,
            actor=actor,
            reason="draft updated without blocking conflicts",
        )
    return DeclarationResult(artifact, outcome, policy.mode, conflicts, decision_id)


def _set_state(artifact: Artifact, target: str, actor: Actor, reason: str) -> None:
    previous = artifact.state
    artifact.state = target
    if target == Artifact.State.ARCHIVED:
        artifact.is_blocked = False
    artifact._governed = True
    artifact.save(update_fields=["state", "is_blocked", "updated_at"])
    audit_for(
        "artifact.transitioned",
        artifact,
        actor=actor,
        payload={"from": previous, "to": target, "reason": reason, "version": artifact.version},
    )
    if target == Artifact.State.ARCHIVED:
        artifact_changed.send(Artifact, artifact=artifact, actor=actor, reason=reason)


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
        audit_for(
            "conflict.resolved", conflict, actor=actor, payload={"strategy": strategy, "note": note}
        )
        count += 1
    return count


def artifact_unblock(*, artifact: Artifact, actor: Actor, reason: str) -> None:
    """The artifact's last unresolved conflict was resolved: it may be activated again."""
    artifact.is_blocked = False
    artifact._governed = True
    artifact.save(update_fields=["is_blocked", "updated_at"])
    audit_for("artifact.unblocked", artifact, actor=actor, payload={"reason": reason})
    artifact_changed.send(Artifact, artifact=artifact, actor=actor, reason=reason)


@transaction.atomic
def artifact_transition(*, artifact: Artifact, actor: Actor, to: str, reason: str = "") -> Artifact:
    artifact = _locked(artifact)
    psmp.check_transition(artifact, to)
    if to == Artifact.State.ACTIVE:
        psmp.lock_scopes(artifact.project_id, [f"line:{artifact.artifact_type}"])
        blockers = psmp.activation_blockers(artifact)
        if blockers:
            raise IllegalTransition(
                f"{artifact.id} cannot become active: {'; '.join(blockers)}.",
                code="activation_blocked",
                extra={"blockers": blockers},
            )
        current = (
            Artifact.objects.select_for_update()
            .filter(
                project_id=artifact.project_id,
                artifact_type=artifact.artifact_type,
                state=Artifact.State.ACTIVE,
            )
            .first()
        )
        if current is not None:
            if not GovernancePolicy.load().auto_archive_superseded:
                raise IllegalTransition(
                    f"{current.id} is the active version of '{artifact.artifact_type}': "
                    "archive it first (auto_archive_superseded is off).",
                    code="line_has_active_version",
                )
            _set_state(current, Artifact.State.ARCHIVED, actor, f"superseded by {artifact.id}")
    else:
        conflicts_close(
            conflicts=artifact.conflicts.filter(status__in=Conflict.UNRESOLVED),
            actor=actor,
            strategy=Conflict.Strategy.RETRY,
            note="artifact archived",
        )
    _set_state(artifact, to, actor, reason)
    return artifact


@transaction.atomic
def artifact_delete(*, artifact: Artifact, actor: Actor) -> None:
    artifact = _locked(artifact)
    if artifact.state != Artifact.State.DRAFT:
        raise GovernanceBlocked(
            f"{artifact.id} is {artifact.state}: only drafts can be deleted; archive it instead.",
            code="not_a_draft",
        )
    audit_for(
        "artifact.deleted",
        artifact,
        actor=actor,
        payload={"version": artifact.version, "content_hash": artifact.content_hash},
    )
    artifact._governed = True
    artifact.delete()
