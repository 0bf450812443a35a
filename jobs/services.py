"""Acting on an organization's jobs: retry a dead one, cancel the waiting ones of an org that is
gone."""

from __future__ import annotations

import logging

from django.db import connection, transaction
from procrastinate.utils import utcnow

from jobs.queue import transactional_manager

logger = logging.getLogger(__name__)


class JobNotFound(LookupError):
    """No job with this id belongs to the organization."""


class JobNotRetryable(ValueError):
    """Only dead jobs (failed, no retry left) are retried by hand."""


@transaction.atomic
def job_retry(*, job_id: int, org: str, actor: str) -> None:
    """Queue a dead job of ``org`` again, now (its attempts count goes on). A retried webhook
    delivery gets one more attempt; it reaches the receiver out of order with the later ones."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT status FROM procrastinate_jobs WHERE id = %s AND args->>'org' = %s FOR UPDATE",
            [job_id, org],
        )
        row = cursor.fetchone()
    if row is None:
        raise JobNotFound(f"No job {job_id} in this organization.")
    if row[0] != "failed":
        raise JobNotRetryable(f"Job {job_id} is not dead: only dead jobs are retried.")
    transactional_manager.retry_job_by_id(job_id=job_id, retry_at=utcnow())
    logger.info("Job %s of %s retried by %s", job_id, org, actor)


def org_jobs_cancel(*, org: str) -> int:
    """Cancel every job of ``org`` still waiting to run (Procrastinate's own cancel: ``todo``
    becomes ``cancelled``, kept for the record); the count. Called when the org is deleted:
    the worker would only skip them, and until then they count as queue depth."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT procrastinate_cancel_job_v1(id, false, false) FROM procrastinate_jobs"
            " WHERE status = 'todo' AND args->>'org' = %s",
            [org],
        )
        cancelled = cursor.rowcount
    if cancelled:
        logger.info("%s waiting job(s) of %s cancelled: the organization is gone", cancelled, org)
    return cancelled
