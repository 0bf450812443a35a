"""The org's governance policy: read it, change it (audited, revision bumped and kept),
restore an earlier revision."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from access.actors import Actor
from access.permissions import actor_can
from access.roles import ORG_ADMIN
from compliance.audit import audit_record
from governance.models import GovernancePolicy, PolicyRevision
from governance.rules import clean_rules, with_authors
from metaqore_site.errors import GovernanceBlocked, GovernanceForbidden
from metaqore_site.governed import mark_audited

EDITABLE_FIELDS = (
    "mode",
    "auto_archive_superseded",
    "routing_policy",
    "rules",
    "max_waiver_days",
    "audit_retention_days",
)


def policy_snapshot(policy: GovernancePolicy) -> dict[str, Any]:
    return {name: getattr(policy, name) for name in EDITABLE_FIELDS}


def rules_diff(before: list[dict], after: list[dict]) -> dict[str, Any]:
    """Which rules were added, removed or changed, and whether the order changed."""
    old = {rule["id"]: rule for rule in before}
    new = {rule["id"]: rule for rule in after}
    content = ("description", "match", "action")
    kept = [rule_id for rule_id in new if rule_id in old]
    return {
        "added": [rule_id for rule_id in new if rule_id not in old],
        "removed": [rule_id for rule_id in old if rule_id not in new],
        "changed": [
            rule_id
            for rule_id in kept
            if any(old[rule_id].get(k) != new[rule_id].get(k) for k in content)
        ],
        "reordered": kept != [rule_id for rule_id in old if rule_id in new],
    }


def authored_rules(rules: Any, *, actor: Actor, previous: list[dict]) -> list[dict]:
    """Validate ``rules`` and stamp each new or changed one with its author."""
    return with_authors(
        clean_rules(rules),
        previous=previous,
        author=str(actor),
        is_org_admin=actor.is_user and actor.has_role(ORG_ADMIN),
    )


def check_can_change(actor: Actor) -> None:
    if not actor_can(actor, "change_policy") or actor.is_agent:
        raise GovernanceForbidden("Only an org_admin user may change the governance policy.")


@transaction.atomic
def policy_update(
    *,
    actor: Actor,
    changes: dict[str, Any],
    restored_from: int | None = None,
    expected_revision: int | None = None,
) -> GovernancePolicy:
    """Apply ``changes``; with ``expected_revision``, only if nobody saved another revision
    since (a draft edited while another admin saved is refused, not silently overwritten)."""
    check_can_change(actor)
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"Not editable: {', '.join(sorted(unknown))}")
    policy = GovernancePolicy.load(for_update=True)
    if expected_revision is not None and policy.revision != expected_revision:
        raise GovernanceBlocked(
            f"The policy is at revision {policy.revision} (by {policy.updated_by}), not "
            f"{expected_revision}: reload it and apply your change again.",
            code="stale_revision",
            extra={"revision": policy.revision},
        )
    changes = dict(changes)
    if "rules" in changes:
        changes["rules"] = authored_rules(changes["rules"], actor=actor, previous=policy.rules)
    before = {name: getattr(policy, name) for name in changes}
    changed = {name: value for name, value in changes.items() if before[name] != value}
    if not changed:
        return policy
    for name, value in changed.items():
        setattr(policy, name, value)
    policy.full_clean()
    policy.revision += 1
    policy.updated_by = str(actor)
    mark_audited(policy).save()
    payload: dict[str, Any] = {
        "before": {name: before[name] for name in changed},
        "after": changed,
        "revision": policy.revision,
    }
    if "rules" in changed:
        payload["rules_diff"] = rules_diff(before["rules"], changed["rules"])
    if restored_from is not None:
        payload["restored_from"] = restored_from
    PolicyRevision.objects.create(
        number=policy.revision,
        snapshot=policy_snapshot(policy),
        changes={key: value for key, value in payload.items() if key != "revision"},
        created_by=str(actor),
        restored_from=restored_from,
    )
    audit_record(
        event_type="policy.changed",
        actor=actor,
        resource_type="governance_policy",
        resource_id=str(policy.pk),
        payload=payload,
    )
    return policy


def policy_restore(*, actor: Actor, number: int) -> GovernancePolicy:
    """Save revision ``number``'s policy as a new revision (nothing when it is the current)."""
    check_can_change(actor)
    revision = PolicyRevision.objects.get(number=number)
    snapshot = {
        name: revision.snapshot[name] for name in EDITABLE_FIELDS if name in revision.snapshot
    }
    return policy_update(actor=actor, changes=snapshot, restored_from=number)
