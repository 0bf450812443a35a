"""What compliance records for the apps below it.

- ``access`` cannot import compliance (it is the bottom of the apps), so it sends
  ``access_audited``; the receiver appends the event in the sender's transaction.
- Agent keys written outside ``access.keys`` (shell, scripts) are audited with actor
  ``system``; a revocation made by hand is still ``agent_key.revoked``. Never the key nor its
  hash.
"""

from typing import Any

from django.dispatch import receiver

from access.models import AgentKey
from access.signals import access_audited
from compliance.audit import audit_record, connect_audit_signals


@receiver(access_audited, dispatch_uid="compliance-records-access-events")
def record_access_event(sender: type, **fields: Any) -> None:
    fields.pop("signal", None)
    audit_record(**fields)


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
