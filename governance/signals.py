"""Audit ORM writes of the policy and providers that did not come through governance's
services (shell, scripts): they are recorded with actor ``system``."""

from compliance.audit import connect_audit_signals
from governance.models import GovernancePolicy, Provider, Waiver
from governance.policy import EDITABLE_FIELDS

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
connect_audit_signals(
    Waiver,
    thing="waiver",
    fields=("match", "justification", "expires_at", "revoked_at", "revoked_by", "revoke_reason"),
)
