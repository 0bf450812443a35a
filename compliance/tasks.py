"""Compliance's periodic work, per organization, on the queue (README "Evidence for
auditors"): a signed checkpoint every 10 minutes when the trail moved. Approved erasures run
as ``compliance.erasure_execute`` jobs (defined beside their service, enqueued on approval)."""

from __future__ import annotations

from compliance.checkpoints import checkpoint_if_moved
from compliance.erasure import erasure_execute_job  # noqa: F401 (runs approved erasures)
from compliance.verification import verify_full  # noqa: F401 (full verification runs)
from jobs.queue import every_org, org_task


@org_task(name="compliance.checkpoint", retry=5)
def checkpoint() -> int:
    """Sign the chain head if events were appended since the last checkpoint; its seq or 0."""
    taken = checkpoint_if_moved()
    return taken.seq if taken else 0


every_org(checkpoint, schedule="compliance-checkpoint", default="*/10 * * * *")
