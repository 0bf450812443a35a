"""Running the worker, and recovering the jobs of workers that died (stalled-job recovery).

The worker fetches jobs through a pool of its own (``PsycopgConnector``: LISTEN/NOTIFY
wake-ups, heartbeats, periodic deferrals); the tasks it runs use Django's connection as
everywhere else, and ``jobs.queue.enqueue`` always writes through Django's connection, so a job
that enqueues another does so in its own transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from procrastinate import App, sql
from procrastinate.contrib.django import app
from procrastinate.contrib.django.django_connector import DjangoConnector
from procrastinate.utils import utcnow

from jobs.queue import transactional_manager

logger = logging.getLogger(__name__)


@contextmanager
def worker_app(*, schedules: bool = True) -> Iterator[App]:
    """The Django app, its connector swapped for one fit for a worker (a pool of its own,
    LISTEN/NOTIFY) while the block runs; ``schedules=False`` leaves the periodic jobs out."""
    connector = DjangoConnector(alias="default").get_worker_connector()
    registry = app.periodic_registry
    saved = registry.periodic_tasks
    if not schedules:
        registry.periodic_tasks = {}
    try:
        with app.replace_connector(connector) as worker:
            yield worker
    finally:
        registry.periodic_tasks = saved


def worker_options(
    *, concurrency: int, queues: list[str] | None, name: str | None, wait: bool
) -> dict[str, Any]:
    return {
        "concurrency": concurrency,
        "queues": queues,
        "name": name,
        "wait": wait,
        "update_heartbeat_interval": settings.METAQORE_WORKER_HEARTBEAT_SECONDS,
        "stalled_worker_timeout": settings.METAQORE_WORKER_STALLED_SECONDS,
        # On SIGTERM/SIGINT: stop fetching, let running jobs finish for this long, then stop.
        "shutdown_graceful_timeout": settings.METAQORE_WORKER_SHUTDOWN_SECONDS,
        "delete_jobs": "never",  # finished jobs stay visible until the retention purge
    }


def stalled_jobs_recover(*, seconds_since_heartbeat: float | None = None) -> list[int]:
    """Put back in the queue the running jobs of workers that stopped sending heartbeats
    (killed, lost their database connection, machine gone); returns their ids.

    A job is at-least-once: one recovered here may have done part of its work (webhook
    receivers see the same delivery id again).
    """
    seconds = seconds_since_heartbeat or settings.METAQORE_WORKER_STALLED_SECONDS
    connector = transactional_manager.connector
    rows = connector.get_sync_connector().execute_query_all(
        query=sql.queries["select_stalled_jobs_by_heartbeat"],
        queue=None,
        task_name=None,
        seconds_since_heartbeat=seconds,
    )
    recovered = []
    for row in rows:
        transactional_manager.retry_job_by_id(job_id=row["id"], retry_at=utcnow())
        logger.warning(
            "Recovered stalled job %s (%s) of a dead worker", row["id"], row["task_name"]
        )
        recovered.append(row["id"])
    return recovered


def finished_jobs_purge(*, days: int | None = None) -> None:
    """Delete jobs finished (succeeded, failed, cancelled, aborted) more than ``days`` ago
    (default ``METAQORE_JOBS_RETENTION_DAYS``); failed ones are the dead letters, kept as
    long as the rest."""
    days = settings.METAQORE_JOBS_RETENTION_DAYS if days is None else days
    transactional_manager.connector.get_sync_connector().execute_query(
        query=sql.queries["delete_old_jobs"],
        nb_hours=days * 24,
        queue=None,
        statuses=["succeeded", "failed", "cancelled", "aborted"],
    )
