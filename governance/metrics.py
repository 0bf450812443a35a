"""Prometheus series of provider routing, read from each org's audit trail at scrape time."""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily

from metaqore_site.metrics import payload_counts


class RoutingCollector:
    def families(self) -> tuple[CounterMetricFamily]:
        return (
            CounterMetricFamily(
                "metaqore_routing_vetoes",
                "Provider vetoes, by routing policy in force and the rule violated.",
                labels=["organization", "policy", "violated"],
            ),
        )

    def collect_org(self, slug: str, families: tuple[CounterMetricFamily]) -> None:
        (vetoes,) = families
        for policy, violated, count in payload_counts("routing.veto", "policy", "policy_violated"):
            vetoes.add_metric([slug, policy or "unknown", violated or "unknown"], count)
