"""Audit ORM writes of conflicts and the policy that did not come through governance's
services (shell, scripts): they are recorded with actor ``system``. Artifacts need no
receivers: ``Artifact.save()`` itself routes unmarked saves through artifacts.services."""

from compliance.audit import connect_audit_signals
from governance.models import AgentKey, Conflict, GovernancePolicy, Provider
from governance.policy import EDITABLE_FIELDS

CONFLICT_AUDIT_FIELDS = (
    "conflict_type",
    "severity",
    "status",
    "resolution_strategy",
    "resolved_by",
    "note",
)

connect_audit_signals(
    Conflict,
    thing="conflict",
    fields=CONFLICT_AUDIT_FIELDS,
    project_id=lambda conflict: conflict.project_id,
)
connect_audit_signals(
    GovernancePolicy,
    thing="policy",
    fields=EDITABLE_FIELDS,
    update_event=lambda before, after: "policy.changed",
)
connect_audit_signals(
    Provider,
    thing="provider",
    fields=("kind", "available", "latency_ms", "capacity_score", "priority"),
    resource_id=lambda provider: provider.name,
    extra=lambda provider: {"provider": provider.name},
)

# Agent keys: never the key nor its hash; a revocation made by hand is still `agent_key.revoked`.
AGENT_KEY_AUDIT_FIELDS = ("prefix", "is_privileged", "expires_at", "revoked_at", "created_by")


def _agent_key_update_event(before: dict, after: dict) -> str:
    if before.get("revoked_at") is None and after.get("revoked_at") is not None:
        return "agent_key.revoked"
    return "agent_key.updated"


connect_audit_signals(
    AgentKey,
    thing="agent_key",
    fields=AGENT_KEY_AUDIT_FIELDS,
    resource_id=lambda key: key.prefix,
    update_event=_agent_key_update_event,
    extra=lambda key: {"agent_name": key.agent.name},
)
