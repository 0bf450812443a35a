"""HMCP's periodic work, per organization, on the queue (README "Background work"): expired
training-job leases go back to the queue, drifting specialists get a retraining job, idle
specialists retire, repeated work is discovered and kept. No cron line needed: the worker's
schedules fan out one job per organization."""

from __future__ import annotations

from access.actors import Actor
from hmcp.discovery import discovery_run_store
from hmcp.drift import specialists_check_drift
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


@org_task(name="hmcp.check_drift")
def check_drift() -> int:
    """Active specialists drifting past the policy's ``drift_max_drop`` get a retraining job."""
    return len(specialists_check_drift(actor=SCHEDULER))


@org_task(name="hmcp.discover_repeated_work")
def discover_repeated_work() -> int:
    """Run discovery with the policy's defaults and keep the result (the dashboard shows the
    latest); returns the number of patterns found."""
    return len(discovery_run_store().results)


every_org(requeue_expired_leases, schedule="hmcp-leases", default="* * * * *")
every_org(check_drift, schedule="hmcp-drift", default="0 * * * *")
every_org(retire_idle_specialists, schedule="hmcp-retire", default="15 3 * * *")
every_org(discover_repeated_work, schedule="hmcp-discovery", default="45 2 * * *")
