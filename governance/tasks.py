"""Governance's periodic work, per organization, on the queue: record the expiry of waivers
(they stop applying at their end date regardless; this writes ``waiver.expired``)."""

from __future__ import annotations

from access.actors import cli_actor
from governance.waivers import waivers_expire
from jobs.queue import every_org, org_task


@org_task(name="governance.expire_waivers", retry=5)
def expire_waivers() -> int:
    """Audit each waiver whose end date passed (once each); how many."""
    return len(waivers_expire(actor=cli_actor("expire_waivers")))


every_org(expire_waivers, schedule="governance-expire-waivers", default="*/15 * * * *")
