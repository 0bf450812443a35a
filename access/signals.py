"""The one way access writes to the audit trail: ``access_audit`` sends ``access_audited``,
which compliance (an app above access) records in the caller's transaction.

Access sits at the bottom of the import graph, so it cannot call compliance; a signal keeps
the dependency pointing up. A change whose event nobody records must not happen, so sending
the signal without a receiver is an error, not a silent no-op.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import Signal

from access.actors import Actor

# Keyword arguments: those of compliance.audit.audit_record (event_type, actor, resource_type,
# resource_id, agent_name, payload).
access_audited = Signal()


class AuditTrailMissing(RuntimeError):
    """No receiver recorded an access event (compliance is not installed or not ready)."""


def access_audit(
    event_type: str,
    *,
    actor: Actor | str,
    resource_type: str,
    resource_id: str,
    payload: dict[str, Any],
    agent_name: str = "",
) -> None:
    responses = access_audited.send(
        sender=Actor,
        event_type=event_type,
        actor=actor,
        resource_type=resource_type,
        resource_id=resource_id,
        agent_name=agent_name,
        payload=payload,
    )
    if not responses:
        raise AuditTrailMissing(f"No audit trail records access events ({event_type}).")
