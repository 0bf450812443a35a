"""Read-side views of governance state (selectors)."""

from __future__ import annotations

from django.db.models import Count
from django.utils import timezone

from artifacts.models import Artifact
from governance.models import Conflict
from projects.models import Project


def blocking_report(project: Project) -> dict:
    """What blocks ``project`` right now and how to unblock it (bounded, indexed queries)."""
    unresolved = Conflict.objects.filter(project=project, status__in=Conflict.UNRESOLVED)
    conflicts = list(unresolved.order_by("-created_at")[:500])
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
        "counts": counts,
        "generated_at": timezone.now(),
    }
