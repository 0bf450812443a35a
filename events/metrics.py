"""Prometheus series of webhook deliveries, read from each org's tables at scrape time."""

from __future__ import annotations

from django.db.models import Count
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from events.models import WebhookDelivery

_Families = tuple[CounterMetricFamily, GaugeMetricFamily]


class DeliveryCollector:
    def families(self) -> _Families:
        return (
            CounterMetricFamily(
                "metaqore_webhook_deliveries",
                "Webhook deliveries that ended, by result (delivered, failed after all retries).",
                labels=["organization", "result"],
            ),
            GaugeMetricFamily(
                "metaqore_webhook_deliveries_pending",
                "Webhook deliveries waiting for their first attempt or a retry.",
                labels=["organization"],
            ),
        )

    def collect_org(self, slug: str, families: _Families) -> None:
        deliveries, pending = families
        by_status = dict(
            WebhookDelivery.objects.order_by().values_list("status").annotate(n=Count("pk"))
        )
        for result in (WebhookDelivery.Status.DELIVERED, WebhookDelivery.Status.FAILED):
            deliveries.add_metric([slug, result], by_status.get(result, 0))
        pending.add_metric([slug], by_status.get(WebhookDelivery.Status.PENDING, 0))
