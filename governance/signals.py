"""Audit ORM writes of conflicts and the policy that did not come through governance's
services (shell, scripts): they are recorded with actor ``system``. Artifacts need no
receivers: ``Artifact.save()`` itself routes unmarked saves through artifacts.services."""

from compliance.audit import connect_audit_signals
from governance.models import Conflict, GovernancePolicy
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
