"""Read-side views of governance state (selectors)."""

from __future__ import annotations

from django.db.models import Count
from django.utils import timezone

from artifacts.models import Artifact, Conflict
from projects.models import Project

REPORT_CONFLICTS_DEFAULT = 50
REPORT_CONFLICTS_MAX = 500


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
