"""Audit ORM writes of agent keys that did not come through governance.keys (shell, scripts):
recorded with actor ``system``, never with the key or its hash."""

from compliance.audit import connect_audit_signals
from governance.models import AgentKey

AGENT_KEY_AUDIT_FIELDS = ("prefix", "is_privileged", "expires_at", "revoked_at", "created_by")


def _key_update_event(before: dict, after: dict) -> str:
    if before.get("revoked_at") is None and after.get("revoked_at") is not None:
        return "agent_key.revoked"
    return "agent_key.updated"


connect_audit_signals(
    AgentKey,
    thing="agent_key",
    fields=AGENT_KEY_AUDIT_FIELDS,
    resource_id=lambda key: key.prefix,
    update_event=_key_update_event,
    extra=lambda key: {"agent_name": key.agent.name},
)
