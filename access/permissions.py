"""Who may do what: one role x action table used by API permission classes, the dashboard
and services (for callers without HTTP). Agents are not users: their rights come from their
key (plain or privileged); users' rights come from their org role (a Django group)."""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from access.actors import Actor, actor_from_request
from access.roles import AUDITOR, COMPLIANCE_OFFICER, ORG_ADMIN, VIEWER

# Roles of users allowed each action; agents are listed separately below.
USER_ROLES: dict[str, frozenset[str]] = {
    "read": frozenset({ORG_ADMIN, COMPLIANCE_OFFICER, AUDITOR, VIEWER}),
    "write_work": frozenset({ORG_ADMIN, COMPLIANCE_OFFICER}),  # projects, tasks, artifacts
    "resolve_conflict": frozenset({ORG_ADMIN, COMPLIANCE_OFFICER}),
    "override_high": frozenset({ORG_ADMIN, COMPLIANCE_OFFICER}),
    "change_policy": frozenset({ORG_ADMIN}),  # the policy, its rules, restoring revisions
    "grant_waiver": frozenset({ORG_ADMIN, COMPLIANCE_OFFICER}),  # grant and revoke waivers
    "simulate_policy": frozenset({ORG_ADMIN, COMPLIANCE_OFFICER}),  # replay the decision log
    "manage_providers": frozenset({ORG_ADMIN}),
    "read_audit": frozenset({ORG_ADMIN, COMPLIANCE_OFFICER, AUDITOR}),
    "take_checkpoint": frozenset({ORG_ADMIN, AUDITOR}),  # sign the audit chain's head now
    # Erasure of personal data from the audit trail: four eyes, two different roles.
    "request_erasure": frozenset({COMPLIANCE_OFFICER}),
    "approve_erasure": frozenset({ORG_ADMIN}),
    "manage_keys": frozenset({ORG_ADMIN}),
    "manage_skills": frozenset({ORG_ADMIN}),  # the HMCP skill registry
    "train_specialists": frozenset(),  # trainers are agents: claim/complete/fail jobs
    "manage_webhooks": frozenset({ORG_ADMIN}),  # they receive the org's events: admins only
    "manage_jobs": frozenset({ORG_ADMIN}),  # the org's background jobs; retry dead ones
    "internal": frozenset(),  # privileged clients only
}
# Actions any agent key may take, and those reserved to privileged keys.
AGENT_ACTIONS = frozenset({"read", "write_work", "resolve_conflict", "train_specialists"})
PRIVILEGED_AGENT_ACTIONS = AGENT_ACTIONS | {"manage_providers", "read_audit", "internal"}


def actor_can(actor: Actor, action: str) -> bool:
    if actor.kind == "system":
        return True
    if actor.is_agent:
        allowed = PRIVILEGED_AGENT_ACTIONS if actor.is_privileged else AGENT_ACTIONS
        return action in allowed
    if actor.is_user:
        if actor.is_privileged and action in PRIVILEGED_AGENT_ACTIONS:
            return True
        return actor.has_role(*USER_ROLES[action])
    return False


def action_permission(read: str = "read", write: str = "write_work") -> type[BasePermission]:
    """A DRF permission class: safe methods need ``read``, other methods need ``write``."""

    class ActionPermission(BasePermission):
        def has_permission(self, request, view) -> bool:
            if request.user is None or not request.user.is_authenticated:
                return False
            action = read if request.method in ("GET", "HEAD", "OPTIONS") else write
            return actor_can(actor_from_request(request), action)

    ActionPermission.__name__ = f"Can_{read}_{write}"
    return ActionPermission
