"""Prometheus series of the declaration domain, read from each org's tables at scrape time."""

from __future__ import annotations

from django.db.models import Count
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from artifacts.models import Conflict
from metaqore_site.metrics import payload_counts

_Families = tuple[CounterMetricFamily, CounterMetricFamily, GaugeMetricFamily]


class DeclarationCollector:
    def families(self) -> _Families:
        return (
            CounterMetricFamily(
                "metaqore_artifacts_declared",
                "Artifact declarations, by outcome (accepted, blocked, auto_resolved, …).",
                labels=["organization", "outcome"],
            ),
            CounterMetricFamily(
                "metaqore_conflicts_detected",
                "Conflicts detected, by type and severity.",
                labels=["organization", "type", "severity"],
            ),
            GaugeMetricFamily(
                "metaqore_conflicts_open",
                "Unresolved (open or escalated) conflicts, by severity.",
                labels=["organization", "severity"],
            ),
        )

    def collect_org(self, slug: str, families: _Families) -> None:
        declared, detected, open_conflicts = families
        for outcome, count in payload_counts("artifact.declared", "outcome"):
            declared.add_metric([slug, outcome or "unknown"], count)
        by_type = Conflict.objects.order_by().values("conflict_type", "severity")
        for row in by_type.annotate(n=Count("pk")):
            detected.add_metric([slug, row["conflict_type"], row["severity"]], row["n"])
        open_by_severity = dict(
            Conflict.objects.filter(status__in=Conflict.UNRESOLVED)
            .order_by()
            .values_list("severity")
            .annotate(n=Count("pk"))
        )
        for severity in Conflict.Severity.values:
            open_conflicts.add_metric([slug, severity], open_by_severity.get(severity, 0))
