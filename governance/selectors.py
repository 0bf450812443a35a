"""Org-wide read models (selectors) for the internal API and the dashboard."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count
from django.db.models.fields.json import KeyTextTransform
from django.utils import timezone

from artifacts.models import Artifact, Conflict
from compliance.models import AuditEvent
from projects.models import Project


def org_stats() -> dict:
    """Counts across the org: a few grouped queries, no per-row work."""
    artifacts = dict.fromkeys(Artifact.State.values, 0)
    artifacts.update(Artifact.objects.values_list("state").annotate(n=Count("id")).order_by())
    conflicts = dict.fromkeys(Conflict.Severity.values, 0)
    conflicts.update(
        Conflict.objects.filter(status__in=Conflict.UNRESOLVED)
        .values_list("severity")
        .annotate(n=Count("id"))
        .order_by()
    )
    vetoes = (
        AuditEvent.objects.filter(event_type="routing.veto")
        .annotate(policy=KeyTextTransform("policy_violated", "payload"))
        .values_list("policy")
        .annotate(n=Count("id"))
        .order_by()
    )
    since = timezone.now() - timedelta(hours=24)
    return {
        "projects": Project.objects.count(),
        "artifacts_by_state": artifacts,
        "blocked_artifacts": Artifact.objects.filter(is_blocked=True).count(),
        "open_conflicts_by_severity": conflicts,
        "events_last_24h": AuditEvent.objects.filter(timestamp__gte=since).count(),
        "vetoes_by_policy": {policy or "unknown": n for policy, n in vetoes},
        "generated_at": timezone.now(),
    }
