"""HMCP's periodic work, per organization, on the queue (README "Background work"): expired
training-job leases go back to the queue, idle specialists retire. No cron line needed: the
worker's schedules fan out one job per organization."""

from __future__ import annotations

from access.actors import Actor
from hmcp.services import specialists_retire_idle
from hmcp.training import training_jobs_requeue_expired
from jobs.queue import every_org, org_task

SCHEDULER = Actor(kind="system", name="scheduler")


@org_task(name="hmcp.requeue_expired_leases")
def requeue_expired_leases() -> int:
    """Claimed training jobs whose lease ran out go back to the queue (``system``)."""
    requeued = 0
    while batch := training_jobs_requeue_expired():
        requeued += len(batch)
    return requeued


@org_task(name="hmcp.retire_idle_specialists")
def retire_idle_specialists() -> int:
    """Deprecate specialists idle for the hierarchy policy's ``retire_after_days``."""
    return len(specialists_retire_idle(actor=SCHEDULER))


every_org(requeue_expired_leases, schedule="hmcp-leases", default="* * * * *")
every_org(retire_idle_specialists, schedule="hmcp-retire", default="15 3 * * *")
