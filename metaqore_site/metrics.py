"""Prometheus metrics at ``GET /metrics`` (public host; ``METAQORE_METRICS_TOKEN`` protects it).

Two kinds of series, and how each stays true with several workers:

- Per-process series (HTTP requests and latency, open SSE/WebSocket clients) are
  prometheus-client metrics. With several worker processes set ``PROMETHEUS_MULTIPROC_DIR``
  (``gunicorn.conf.py`` does it for you): every process then writes its values to files there
  and a scrape of any worker sums them all (``MultiProcessCollector``; the client gauges use
  ``livesum``, so dead workers drop out).
- Governance series (artifacts declared by outcome, conflicts by type/severity, open
  conflicts, routing vetoes by policy, webhook deliveries by result) are read from each
  organization's database tables at scrape time, by collectors that the apps owning those
  tables register from their ``ready()`` (``register_org_collector``). They are the same
  whichever worker answers, survive restarts and count writes made by commands and the
  shell too. Counters come from the
  append-only audit trail (or tables that only grow), so they never go down.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django_tenants.utils import schema_context
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

from tenants.models import Organization

disable_created_metrics()  # no `_created` series beside every counter and histogram
logger = logging.getLogger(__name__)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_REQUESTS = Counter(
    "metaqore_http_requests",
    "HTTP requests served, by route (URL pattern), method and status code.",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "metaqore_http_request_duration_seconds",
    "Time to the response (the first byte for streams), by route and method.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
STREAM_CLIENTS = Gauge(
    "metaqore_stream_clients",
    "Connected live-event clients, by transport (sse, websocket).",
    ["transport"],
    multiprocess_mode="livesum",
)
for _transport in ("sse", "websocket"):
    STREAM_CLIENTS.labels(_transport)


def _route(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    return "/" + match.route if match is not None and match.route else "unmatched"


class RequestMetricsMiddleware:
    """Counts every request and times it (outermost, so 404s of unknown hosts count too)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        start = time.perf_counter()
        response = self.get_response(request)
        route = _route(request)
        method = request.method if request.method in METHODS else "other"
        try:
            HTTP_LATENCY.labels(route, method).observe(time.perf_counter() - start)
            HTTP_REQUESTS.labels(route, method, str(response.status_code)).inc()
        except OSError:  # the multiprocess directory went away: serve, say so in the logs
            logger.exception("Request metrics not recorded (PROMETHEUS_MULTIPROC_DIR)")
        return response


# --- governance series, from the database ---------------------------------------------------


FamiliesT = TypeVar("FamiliesT", bound=Sequence[Metric])


class OrgCollector(Protocol[FamiliesT]):
    """Series an app reads from each organization's tables at scrape time."""

    def families(self) -> FamiliesT:
        """New, empty metric families (labels start with ``organization``)."""
        ...

    def collect_org(self, slug: str, families: FamiliesT) -> None:
        """Add this organization's samples (to what ``families`` made); runs inside the
        organization's schema."""
        ...


ORG_COLLECTORS: list[OrgCollector[Any]] = []


def register_org_collector(collector: OrgCollector[Any]) -> None:
    """Called from an app's ``ready()``: the app knows its tables, metrics knows none."""
    ORG_COLLECTORS.append(collector)


# Collectors of platform-wide series (public schema), e.g. the job queue's depth.
PLATFORM_COLLECTORS: list[Any] = []


def register_platform_collector(collector: Any) -> None:
    """Called from an app's ``ready()``: ``collector.collect()`` yields metric families."""
    PLATFORM_COLLECTORS.append(collector)


def payload_counts(event_type: str, *keys: str) -> list[tuple]:
    """(value of each payload key…, count) of the audit events of one type, in this schema."""
    columns = ", ".join("COALESCE(payload->>%s, '')" for _ in keys)
    groups = ", ".join(str(i + 1) for i in range(len(keys)))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns}, count(*) FROM compliance_auditevent "  # noqa: S608
            f"WHERE event_type = %s GROUP BY {groups} ORDER BY {groups}",
            [*keys, event_type],
        )
        return cursor.fetchall()


class GovernanceCollector:
    """Reads the registered series of every organization (a few indexed queries each)."""

    def collect(self) -> Iterator[Metric]:
        families: list[Sequence[Metric]] = [collector.families() for collector in ORG_COLLECTORS]
        organizations = Organization.objects.order_by("slug").values_list("slug", "schema_name")
        for slug, schema in organizations:
            with schema_context(schema):
                for collector, own in zip(ORG_COLLECTORS, families, strict=True):
                    collector.collect_org(slug, own)
        for own in families:
            yield from own
        for collector in PLATFORM_COLLECTORS:
            yield from collector.collect()


def _process_metrics() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def _governance_metrics() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GovernanceCollector())
    return generate_latest(registry)


def metrics_authorized(request: HttpRequest) -> bool:
    token = settings.METAQORE_METRICS_TOKEN
    if not token:
        return True
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        value.strip().encode(), token.encode()
    )


def metrics_view(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return JsonResponse({"detail": f'Method "{request.method}" not allowed.'}, status=405)
    if not metrics_authorized(request):
        response: HttpResponse = JsonResponse(
            {"detail": "A valid metrics token is required."}, status=401
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body = _process_metrics() + _governance_metrics()
    response = HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
