"""The declaration domain's signal, and the audit receivers of ORM writes to conflicts.

``artifact_changed`` is sent, inside the change's transaction, when PSMP archives an artifact,
unblocks it, or accepts an update of a draft without blocking conflicts: apps that follow
artifacts (HMCP moves a specialist with its model) react without artifacts importing them.
Conflicts written outside the services (shell, scripts) are audited with actor ``system``.
"""

from django.dispatch import Signal

from artifacts.models import Conflict
from compliance.audit import connect_audit_signals

# Keyword arguments: artifact, actor, reason.
artifact_changed = Signal()

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
