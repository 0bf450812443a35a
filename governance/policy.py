"""The org's governance policy: read it, change it (audited, revision bumped)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from access.actors import Actor
from access.permissions import actor_can
from compliance.audit import audit_record
from governance.models import GovernancePolicy
from metaqore_site.errors import GovernanceForbidden
from metaqore_site.governed import mark_audited

EDITABLE_FIELDS = ("mode", "auto_archive_superseded", "routing_policy")


@transaction.atomic
def policy_update(*, actor: Actor, changes: dict[str, Any]) -> GovernancePolicy:
    if not actor_can(actor, "change_policy") or actor.is_agent:
        raise GovernanceForbidden("Only an org_admin user may change the governance policy.")
    policy = GovernancePolicy.load(for_update=True)
    before = {name: getattr(policy, name) for name in changes if name in EDITABLE_FIELDS}
    changed = {name: value for name, value in changes.items() if before.get(name) != value}
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"Not editable: {', '.join(sorted(unknown))}")
    if not changed:
        return policy
    for name, value in changed.items():
        setattr(policy, name, value)
    policy.full_clean()
    policy.revision += 1
    policy.updated_by = str(actor)
    mark_audited(policy).save()
    audit_record(
        event_type="policy.changed",
        actor=actor,
        resource_type="governance_policy",
        resource_id=str(policy.pk),
        payload={
            "before": {name: before[name] for name in changed},
            "after": changed,
            "revision": policy.revision,
        },
    )
    return policy
