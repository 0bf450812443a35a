"""Prometheus series of the job queue, read from its tables at scrape time (any process
answers the same): queue depth per queue and state, and each org's jobs by task and state."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily

from jobs.selectors import org_job_counts, queue_depths
from metaqore_site.database import tenant_connection


class QueueCollector:
    """``metaqore_job_queue{queue,state}``: jobs waiting (queued, retrying) or running."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "metaqore_job_queue",
            "Background jobs not finished, by queue and state (queued, retrying, running).",
            labels=["queue", "state"],
        )
        for queue, state, count in queue_depths():
            family.add_metric([queue, state], count)
        yield family


class OrgJobsCollector:
    """``metaqore_jobs{organization,task,state}``: an org's jobs kept in the queue table
    (finished ones until the retention purge), so outcomes (succeeded, dead) per task."""

    def families(self) -> tuple[GaugeMetricFamily]:
        return (
            GaugeMetricFamily(
                "metaqore_jobs",
                "Jobs of an organization by task and state (queued, retrying, running, "
                "succeeded, dead, cancelled); finished ones until METAQORE_JOBS_RETENTION_DAYS.",
                labels=["organization", "task", "state"],
            ),
        )

    def collect_org(self, slug: str, families: tuple[GaugeMetricFamily]) -> None:
        (jobs,) = families
        for row in org_job_counts(org=tenant_connection.schema_name):
            for state, count in row.counts.items():
                if count:
                    jobs.add_metric([slug, row.task_name, state], count)
