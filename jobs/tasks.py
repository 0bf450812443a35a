"""The queue's own housekeeping, on schedules: recover the jobs of dead workers, purge old
finished jobs."""

from __future__ import annotations

from jobs.queue import platform_schedule, platform_task
from jobs.worker import finished_jobs_purge, stalled_jobs_recover


@platform_task(name="jobs.recover_stalled")
def recover_stalled(timestamp: int) -> int:
    return len(stalled_jobs_recover())


@platform_task(name="jobs.purge_finished")
def purge_finished(timestamp: int) -> None:
    finished_jobs_purge()


platform_schedule(recover_stalled, schedule="jobs-recover-stalled", default="* * * * *")
platform_schedule(purge_finished, schedule="jobs-purge", default="30 4 * * *")
