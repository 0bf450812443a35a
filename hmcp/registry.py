"""The org's skill registry and hierarchy policy: the one write path (API, admin), audited
with the actor; org admins only (``manage_skills``, ``change_policy``)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from access.actors import Actor
from access.permissions import actor_can
from compliance.audit import audit_for, audit_record, changes_payload, model_snapshot
from hmcp.models import HierarchyPolicy, Skill
from metaqore_site.errors import GovernanceBlocked, GovernanceForbidden
from metaqore_site.governed import mark_audited

SKILL_FIELDS = (
    "skill_id",
    "description",
    "parent_agent",
    "max_specialist_size_mb",
    "allowed_teachers",
    "task_patterns",
)
POLICY_FIELDS = (
    "chaining_depth",
    "levels",
    "spawn_min_confidence",
    "require_task_isolation",
    "gate_functional_unit_test_min",
    "gate_catastrophic_forgetting_max_drop",
    "gate_adversarial_robustness_required",
    "gate_psmp_compatibility_required",
    "drift_max_drop",
    "retire_after_days",
    "lease_minutes",
    "discovery_min_repetitions",
    "discovery_days",
)


def _require_skill_admin(actor: Actor) -> None:
    if not actor_can(actor, "manage_skills"):
        raise GovernanceForbidden(
            "Only an org_admin may change the skill registry.", code="role_forbidden"
        )


@transaction.atomic
def skill_create(*, actor: Actor, **fields: Any) -> Skill:
    _require_skill_admin(actor)
    skill = Skill(**{k: v for k, v in fields.items() if k in SKILL_FIELDS}, created_by=str(actor))
    skill.full_clean()
    try:
        with transaction.atomic():
            mark_audited(skill).save(force_insert=True)
    except IntegrityError as exc:  # a concurrent create of the same skill_id
        raise ValidationError({"skill_id": ["A skill with this skill_id already exists."]}) from exc
    audit_for(
        "skill.created", skill, actor=actor, payload={"after": model_snapshot(skill, SKILL_FIELDS)}
    )
    return skill


@transaction.atomic
def skill_update(*, skill: Skill, actor: Actor, changes: dict[str, Any]) -> Skill:
    _require_skill_admin(actor)
    skill = Skill.objects.select_for_update().get(pk=skill.pk)
    before = model_snapshot(skill, SKILL_FIELDS)
    for name, value in changes.items():
        if name not in SKILL_FIELDS or name == "skill_id":
            raise ValidationError({name: ["Cannot be changed."]})
        setattr(skill, name, value)
    skill.full_clean()
    payload = changes_payload(before, model_snapshot(skill, SKILL_FIELDS))
    if not payload["after"]:
        return skill
    mark_audited(skill).save()
    audit_for("skill.updated", skill, actor=actor, payload=payload)
    return skill


@transaction.atomic
def skill_delete(*, skill: Skill, actor: Actor) -> None:
    """Only a skill no specialist ever used: specialists keep their history."""
    _require_skill_admin(actor)
    skill = Skill.objects.select_for_update().get(pk=skill.pk)
    used = skill.specialists.count()
    if used:
        raise GovernanceBlocked(
            f"Skill '{skill.skill_id}' has {used} specialist(s) and cannot be deleted; "
            "deprecate them and keep the skill.",
            code="skill_in_use",
        )
    audit_for(
        "skill.deleted", skill, actor=actor, payload={"before": model_snapshot(skill, SKILL_FIELDS)}
    )
    mark_audited(skill).delete()


@transaction.atomic
def hierarchy_policy_update(*, actor: Actor, changes: dict[str, Any]) -> HierarchyPolicy:
    if actor.is_agent or not actor_can(actor, "change_policy"):
        raise GovernanceForbidden(
            "Only an org_admin user may change the hierarchy policy.", code="role_forbidden"
        )
    unknown = set(changes) - set(POLICY_FIELDS)
    if unknown:
        raise ValidationError({name: ["Not editable."] for name in sorted(unknown)})
    policy = HierarchyPolicy.load(for_update=True)
    before = model_snapshot(policy, POLICY_FIELDS)
    for name, value in changes.items():
        setattr(policy, name, value)
    payload = changes_payload(before, model_snapshot(policy, POLICY_FIELDS))
    if not payload["after"]:
        return policy
    policy.full_clean()
    policy.revision += 1
    policy.updated_by = str(actor)
    mark_audited(policy).save()
    audit_record(
        event_type="hierarchy_policy.changed",
        actor=actor,
        resource_type="hierarchy_policy",
        resource_id=str(policy.pk),
        payload={**payload, "revision": policy.revision},
    )
    return policy
