"""PSMP, the Project State Management Protocol: locking, lifecycle rules and outcomes.

Plain functions on model instances so they can be tested without HTTP. The write paths that
use them live in ``artifacts.services`` (and ``governance.resolution``, which calls it).

Other apps add activation rules with ``@activation_blocker`` (HMCP: a specialist model becomes
active only through its validation gate).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.db import connection

from artifacts.models import Artifact, Conflict
from metaqore_site.database import tenant_connection
from metaqore_site.errors import IllegalTransition

ActivationBlocker = Callable[[Artifact], list[str]]
ACTIVATION_BLOCKERS: list[ActivationBlocker] = []


def activation_blocker(function: ActivationBlocker) -> ActivationBlocker:
    """Register a rule that may keep an artifact from becoming active (reasons, or [])."""
    ACTIVATION_BLOCKERS.append(function)
    return function


AUTO_RESOLVABLE = frozenset({Conflict.Severity.LOW, Conflict.Severity.MEDIUM})


def lock_scopes(project_id: str, scopes: Iterable[str]) -> None:
    """Serialize writers of the same project scopes (``line:code``, ``path:src/a.py``, …)
    until the transaction ends. Locks are taken in one global order, so no deadlocks."""
    keys = sorted(set(scopes))
    if not keys:
        return
    namespace = f"{tenant_connection.schema_name}:{project_id}"
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT pg_advisory_xact_lock(k1, k2) FROM (
                SELECT hashtext(%s) AS k1, hashtext(scope) AS k2
                FROM unnest(%s::text[]) AS scope ORDER BY 1, 2
            ) ordered
            """,
            [namespace, keys],
        )


def declaration_scopes(artifact: Artifact, *, graph: bool = False) -> list[str]:
    scopes = [f"line:{artifact.artifact_type}"]
    scopes += [f"path:{path}" for path in artifact.file_paths]
    scopes += [f"pkg:{package}" for package in artifact.requirements]
    if graph:
        scopes.append("graph")  # dependency edges can only close a cycle on update
    return scopes


def check_transition(artifact: Artifact, target: str) -> None:
    if target not in Artifact.State.values:
        raise IllegalTransition(f"Unknown state '{target}'.", code="unknown_state")
    if artifact.state == target:
        raise IllegalTransition(f"{artifact.id} is already {target}.")
    if not artifact.can_transition_to(target):
        allowed = sorted(artifact.TRANSITIONS[artifact.state]) or "none"
        raise IllegalTransition(
            f"{artifact.id} cannot go from {artifact.state} to {target}: "
            f"allowed from {artifact.state}: {allowed}."
        )


def activation_blockers(artifact: Artifact) -> list[str]:
    """Why ``artifact`` may not become active (empty list: it may)."""
    reasons = []
    unresolved = list(
        artifact.conflicts.filter(status__in=Conflict.UNRESOLVED).values_list("id", "conflict_type")
    )
    reasons += [f"unresolved conflict {cid} ({ctype})" for cid, ctype in unresolved]
    if artifact.depends_on:
        states = dict(
            Artifact.objects.filter(
                project_id=artifact.project_id, id__in=artifact.depends_on
            ).values_list("id", "state")
        )
        for dependency in artifact.depends_on:
            state = states.get(dependency)
            if state is None:
                reasons.append(f"dependency {dependency} does not exist")
            elif state != Artifact.State.ACTIVE:
                reasons.append(f"dependency {dependency} is {state}, not active")
    for blocker in ACTIVATION_BLOCKERS:
        reasons += blocker(artifact)
    return reasons
