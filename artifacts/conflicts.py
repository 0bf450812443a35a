"""Conflict detection between agents' declarations.

Each check is one function registered with ``@check`` (here, or by another app from its
``ready()``, as HMCP does); it receives a :class:`Declaration` and returns the conflicts it
finds. Checks use indexed queries scoped to the project and to the
line, path or package at hand — never "load every artifact of the project" — so a declaration
costs the same in a project of 100 or 100,000 artifacts.
"""

from __future__ import annotations

import functools
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import QuerySet
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from artifacts.models import Artifact, Conflict
from metaqore_site.compiled_query import CompiledQuery

LIVE_STATES = (Artifact.State.DRAFT, Artifact.State.ACTIVE)


@dataclass(frozen=True)
class Declaration:
    """An artifact about to be stored (created or updated as a draft)."""

    artifact: Artifact
    is_update: bool = False
    declared_version: int | None = None  # what the agent asked for (create only)
    expected_version: int | None = None  # the line's next version (create only)


@dataclass
class DetectedConflict:
    conflict_type: str
    severity: str
    description: str
    suggested_strategy: str
    hint: str
    details: dict[str, Any] = field(default_factory=dict)


Check = Callable[[Declaration], list[DetectedConflict]]
CHECKS: list[Check] = []


def check(function: Check) -> Check:
    CHECKS.append(function)
    return function


def detect_conflicts(declaration: Declaration) -> list[DetectedConflict]:
    return [conflict for run in CHECKS for conflict in run(declaration)]


def live_artifacts(project_id: str) -> QuerySet:
    return Artifact.objects.filter(project_id=project_id, state__in=LIVE_STATES)


def live_in_project(declaration: Declaration) -> QuerySet:
    artifact = declaration.artifact
    queryset = live_artifacts(artifact.project_id)
    return queryset.exclude(pk=artifact.pk) if declaration.is_update else queryset


@check
def version_mismatch(declaration: Declaration) -> list[DetectedConflict]:
    declared, expected = declaration.declared_version, declaration.expected_version
    if declaration.is_update or declared is None or declared == expected:
        return []
    line = declaration.artifact.artifact_type
    return [
        DetectedConflict(
            conflict_type="version_mismatch",
            severity=Conflict.Severity.MEDIUM,
            description=(
                f"Declared version {declared} of '{line}' but the next version is {expected}: "
                "the declaration was built on a stale version."
            ),
            suggested_strategy=Conflict.Strategy.RETRY,
            hint=f"declare version {expected}",
            details={"declared_version": declared, "expected_version": expected},
        )
    ]


# The latest live version of the line by another agent; every declaration asks. The artifact
# itself is left out (an update; a new one's id is not stored yet).
_OTHER_IN_LINE = CompiledQuery(
    lambda project_id, artifact_type, created_by, artifact_id: (
        live_artifacts(project_id)
        .filter(artifact_type=artifact_type)
        .exclude(created_by=created_by)
        .exclude(pk=artifact_id)
        .order_by("-version")
        .values("id", "created_by", "version", "state")[:1]
    )
)


@check
def parallel_creation(declaration: Declaration) -> list[DetectedConflict]:
    artifact = declaration.artifact
    other = _OTHER_IN_LINE.first(
        project_id=artifact.project_id,
        artifact_type=artifact.artifact_type,
        created_by=artifact.created_by,
        artifact_id=artifact.pk,
    )
    if other is None:
        return []
    return [
        DetectedConflict(
            conflict_type="parallel_creation",
            severity=Conflict.Severity.HIGH,
            description=(
                f"{other['created_by']} also has {other['state']} '{artifact.artifact_type}' "
                f"v{other['version']} ({other['id']}) in this project."
            ),
            suggested_strategy=Conflict.Strategy.MERGE,
            hint=(
                f"{other['id']} by {other['created_by']} is {other['state']} in line "
                f"'{artifact.artifact_type}': merge your work into it, or wait until it is archived"
            ),
            details={
                "other_artifact_id": other["id"],
                "other_created_by": other["created_by"],
                "other_version": other["version"],
                "other_state": other["state"],
            },
        )
    ]


@check
def dependencies(declaration: Declaration) -> list[DetectedConflict]:
    """missing_dependency (unknown id) and stale_dependency (archived dependency)."""
    artifact = declaration.artifact
    if not artifact.depends_on:
        return []
    found = {
        row["id"]: row
        for row in Artifact.objects.filter(
            project_id=artifact.project_id, id__in=artifact.depends_on
        ).values("id", "state", "artifact_type", "version")
    }
    conflicts = []
    for dependency_id in artifact.depends_on:
        row = found.get(dependency_id)
        if row is None:
            conflicts.append(
                DetectedConflict(
                    conflict_type="missing_dependency",
                    severity=Conflict.Severity.HIGH,
                    description=f"Depends on {dependency_id}, which is not an artifact of "
                    f"project {artifact.project_id}.",
                    suggested_strategy=Conflict.Strategy.RETRY,
                    hint=f"remove {dependency_id} from depends_on or declare it first",
                    details={"dependency_id": dependency_id},
                )
            )
        elif row["state"] == Artifact.State.ARCHIVED:
            current = (
                Artifact.objects.filter(
                    project_id=artifact.project_id,
                    artifact_type=row["artifact_type"],
                    state=Artifact.State.ACTIVE,
                )
                .values_list("id", flat=True)
                .first()
            )
            hint = f"depends on {dependency_id} which is archived"
            hint += f": depend on {current} (active)" if current else ": no active version exists"
            conflicts.append(
                DetectedConflict(
                    conflict_type="stale_dependency",
                    severity=Conflict.Severity.LOW,
                    description=f"Dependency {dependency_id} ('{row['artifact_type']}' "
                    f"v{row['version']}) is archived.",
                    suggested_strategy=Conflict.Strategy.RETRY,
                    hint=hint,
                    details={"dependency_id": dependency_id, "active_replacement": current},
                )
            )
    return conflicts


# Walks the dependency graph from the declared dependencies, one primary-key lookup per edge;
# UNION (not UNION ALL) stops at nodes already seen, so existing cycles cannot loop forever.
_REACHES_SQL = """
WITH RECURSIVE reachable(id) AS (
    SELECT unnest(%s::text[])
    UNION
    SELECT jsonb_array_elements_text(a.depends_on)
    FROM {table} a JOIN reachable r ON a.id = r.id
    WHERE a.project_id = %s
)
SELECT 1 FROM reachable WHERE id = %s LIMIT 1
"""


@check
def circular_dependency(declaration: Declaration) -> list[DetectedConflict]:
    artifact = declaration.artifact
    if not artifact.depends_on or not declaration.is_update:
        return []  # a new artifact has no dependents yet, so it cannot close a cycle
    table = connection.ops.quote_name(Artifact._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            _REACHES_SQL.format(table=table),
            [list(artifact.depends_on), artifact.project_id, artifact.pk],
        )
        cyclic = cursor.fetchone() is not None
    if not cyclic:
        return []
    return [
        DetectedConflict(
            conflict_type="circular_dependency",
            severity=Conflict.Severity.CRITICAL,
            description=f"depends_on of {artifact.pk} leads back to itself.",
            suggested_strategy=Conflict.Strategy.ESCALATE,
            hint=f"remove the dependency that leads back to {artifact.pk}",
            details={"depends_on": list(artifact.depends_on)},
        )
    ]


def normalize_path(path: str) -> str:
    """``./a/../b/c.py`` → ``b/c.py``. Raises ValueError for absolute or escaping paths."""
    if path.startswith(("/", "\\")) or (len(path) > 1 and path[1] == ":"):
        raise ValueError(f"'{path}' must be relative to the project root")
    normalized = posixpath.normpath(path.replace("\\", "/"))
    if normalized in (".", "") or normalized == ".." or normalized.startswith("../"):
        raise ValueError(f"'{path}' does not name a file inside the project")
    return normalized


@check
def file_path_collision(declaration: Declaration) -> list[DetectedConflict]:
    artifact = declaration.artifact
    if not artifact.file_paths:
        return []
    claimed = set(artifact.file_paths)
    others = (
        live_in_project(declaration)
        .filter(file_paths__has_any_keys=list(claimed))
        .exclude(artifact_type=artifact.artifact_type, created_by=artifact.created_by)
        .values("id", "artifact_type", "created_by", "file_paths")[:20]
    )
    conflicts = []
    for other in others:
        paths = sorted(claimed.intersection(other["file_paths"]))
        conflicts.append(
            DetectedConflict(
                conflict_type="file_path_collision",
                severity=Conflict.Severity.HIGH,
                description=f"{other['id']} ('{other['artifact_type']}' by "
                f"{other['created_by']}) also writes {', '.join(paths)}.",
                suggested_strategy=Conflict.Strategy.MERGE,
                hint=f"{', '.join(paths)} is claimed by {other['id']}: merge into it "
                "or write to another path",
                details={"other_artifact_id": other["id"], "paths": paths},
            )
        )
    return conflicts


def normalize_requirements(requirements: dict[str, str]) -> dict[str, str]:
    """Canonical package names; raises ValueError for invalid PEP 440 specifiers."""
    normalized: dict[str, str] = {}
    for name, spec in requirements.items():
        try:
            SpecifierSet(spec)
        except InvalidSpecifier as exc:
            raise ValueError(f"{name}: '{spec}' is not a PEP 440 version specifier") from exc
        normalized[canonicalize_name(name)] = spec.strip()
    return normalized


def _candidate_versions(specs: SpecifierSet) -> list[Version]:
    """Versions at and around every bound of ``specs``: if any version satisfies a set of
    specifiers, one of these does (bounds are where satisfiability can change)."""
    candidates = {Version("0"), Version("0.0.1"), Version("999999")}
    for spec in specs:
        text = spec.version.removesuffix(".*")
        try:
            bound = Version(text)
        except InvalidVersion:
            continue
        release = list(bound.release)
        candidates.add(bound)
        candidates.add(Version(".".join(map(str, [*release, 1]))))  # just above
        candidates.add(Version(".".join(map(str, [*release[:-1], release[-1] + 1]))))
        if release[-1] > 0:  # just below
            candidates.add(Version(".".join(map(str, [*release[:-1], release[-1] - 1, 999999]))))
        candidates.add(Version(f"{text}.post1"))
    return sorted(candidates)


@functools.lru_cache(maxsize=4096)
def specifiers_compatible(first: str, second: str) -> bool:
    """Whether some version satisfies both specifiers. A pure function of two strings, and
    projects repeat the same few pairs (a declaration compares with up to 50 artifacts):
    memoized, since parsing PEP 440 specifiers costs more than the rest of the check."""
    combined = SpecifierSet(first) & SpecifierSet(second)
    return any(combined.contains(v, prereleases=True) for v in _candidate_versions(combined))


@check
def dependency_version_conflict(declaration: Declaration) -> list[DetectedConflict]:
    artifact = declaration.artifact
    if not artifact.requirements:
        return []
    # Versions of the same line supersede each other; only other lines must stay compatible.
    others = (
        live_in_project(declaration)
        .filter(requirements__has_any_keys=list(artifact.requirements))
        .exclude(artifact_type=artifact.artifact_type)
        .values("id", "requirements")[:50]
    )
    conflicts = []
    for other in others:
        for package, spec in sorted(artifact.requirements.items()):
            theirs = other["requirements"].get(package)
            if theirs is None or specifiers_compatible(spec, theirs):
                continue
            conflicts.append(
                DetectedConflict(
                    conflict_type="dependency_version_conflict",
                    severity=Conflict.Severity.HIGH,
                    description=f"No version of {package} satisfies both '{spec}' and "
                    f"'{theirs}' ({other['id']}).",
                    suggested_strategy=Conflict.Strategy.ESCALATE,
                    hint=f"{package}: '{spec}' here vs '{theirs}' in {other['id']}",
                    details={
                        "package": package,
                        "specifier": spec,
                        "other_artifact_id": other["id"],
                        "other_specifier": theirs,
                    },
                )
            )
    return conflicts
