"""Governance's periodic work, per organization, on the queue: record the expiry of waivers
(they stop applying at their end date regardless; this writes ``waiver.expired``), and apply
the policy's audit retention (``compliance.retention``: archive, then remove)."""

from __future__ import annotations

from access.actors import cli_actor
from compliance.retention import retention_apply
from governance.models import GovernancePolicy
from governance.waivers import waivers_expire
from jobs.queue import every_org, org_task


@org_task(name="governance.expire_waivers", retry=5)
def expire_waivers() -> int:
    """Audit each waiver whose end date passed (once each); how many."""
    return len(waivers_expire(actor=cli_actor("expire_waivers")))


every_org(expire_waivers, schedule="governance-expire-waivers", default="*/15 * * * *")


@org_task(name="governance.audit_retention", retry=5)
def audit_retention() -> int:
    """Archive and remove the audit events older than ``policy.audit_retention_days`` (none
    when unset); how many were removed."""
    days = GovernancePolicy.load().audit_retention_days
    if not days:
        return 0
    done = retention_apply(days=days, actor=cli_actor("audit_retention"))
    return done.events_removed if done else 0


every_org(audit_retention, schedule="governance-audit-retention", default="30 2 * * *")
