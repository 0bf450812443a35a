"""Read-side views of governance state (selectors)."""

from __future__ import annotations

from django.db.models import Count, QuerySet
from django.utils import timezone

from artifacts.models import Artifact, Conflict
from projects.models import Project

REPORT_CONFLICTS_DEFAULT = 50
REPORT_CONFLICTS_MAX = 500
REPORT_PROJECTS_MAX = 1000  # rows of the org-wide report's by_project


def blocking_report(project: Project, *, limit: int = REPORT_CONFLICTS_DEFAULT) -> dict:
    """What blocks ``project`` right now and how to unblock it (bounded, indexed queries).

    ``conflicts`` holds the ``limit`` most recent unresolved conflicts; ``counts`` and
    ``conflicts_total`` cover all of them (the conflict list API pages through the rest)."""
    limit = max(1, min(limit, REPORT_CONFLICTS_MAX))
    unresolved = Conflict.objects.filter(project=project, status__in=Conflict.UNRESOLVED)
    conflicts = list(unresolved.order_by("-created_at")[:limit])
    counts = dict.fromkeys(Conflict.Severity.values, 0)
    counts.update(
        unresolved.values_list("severity").annotate(n=Count("id")).values_list("severity", "n")
    )
    blocked = list(
        Artifact.objects.filter(project=project, is_blocked=True)
        .exclude(state=Artifact.State.ARCHIVED)
        .order_by("artifact_type", "version")
        .values_list("id", flat=True)[:1000]
    )
    return {
        "project_id": project.id,
        "blocked_artifacts": blocked,
        "conflicts": conflicts,
        "conflicts_total": sum(counts.values()),
        "counts": counts,
        "generated_at": timezone.now(),
    }


def blocking_by_project(*, unresolved: QuerySet, blocking: QuerySet) -> list[dict]:
    """Each project with blocked artifacts or unresolved conflicts: its blocked count and its
    conflict counts by severity, the most blocked first (two grouped queries)."""
    rows: dict[str, dict] = {}

    def row(project_id: str, name: str) -> dict:
        return rows.setdefault(
            project_id,
            {
                "project_id": project_id,
                "name": name,
                "blocked": 0,
                "counts": dict.fromkeys(Conflict.Severity.values, 0),
            },
        )

    per_severity = (
        unresolved.order_by()
        .values_list("project_id", "project__name", "severity")
        .annotate(n=Count("id"))
    )
    for project_id, name, severity, n in per_severity:
        row(project_id, name)["counts"][severity] = n
    per_project = (
        blocking.order_by().values_list("project_id", "project__name").annotate(n=Count("id"))
    )
    for project_id, name, n in per_project:
        row(project_id, name)["blocked"] = n
    severities = sorted(
        Conflict.SEVERITY_RANK, key=Conflict.SEVERITY_RANK.__getitem__, reverse=True
    )
    return sorted(
        rows.values(),
        key=lambda r: (-r["blocked"], [-r["counts"][s] for s in severities], r["name"]),
    )


def unresolved_conflicts() -> QuerySet:
    return Conflict.objects.filter(status__in=Conflict.UNRESOLVED)


def blocking_artifacts() -> QuerySet:
    return Artifact.objects.filter(is_blocked=True).exclude(state=Artifact.State.ARCHIVED)


def blocking_report_org(*, limit: int = REPORT_CONFLICTS_DEFAULT) -> dict:
    """What blocks the whole organization: the same shape as ``blocking_report`` (project_id
    None), plus ``by_project`` (``blocking_by_project``, at most ``REPORT_PROJECTS_MAX``
    rows) and ``projects_total``. Grouped queries over indexed columns."""
    limit = max(1, min(limit, REPORT_CONFLICTS_MAX))
    unresolved, blocking = unresolved_conflicts(), blocking_artifacts()
    by_project = blocking_by_project(unresolved=unresolved, blocking=blocking)
    counts = dict.fromkeys(Conflict.Severity.values, 0)
    for row in by_project:
        for severity, n in row["counts"].items():
            counts[severity] += n
    return {
        "project_id": None,
        "blocked_artifacts": list(
            blocking.order_by("project_id", "artifact_type", "version").values_list(
                "id", flat=True
            )[:1000]
        ),
        "conflicts": list(unresolved.order_by("-created_at")[:limit]),
        "conflicts_total": sum(counts.values()),
        "counts": counts,
        "by_project": by_project[:REPORT_PROJECTS_MAX],
        "projects_total": len(by_project),
        "generated_at": timezone.now(),
    }
