"""Provider routing: which model providers may receive a task of a given sensitivity.

How sensitive a task is lives with the task (``projects.sensitivity``). Pure functions
(``allowed_kinds``) plus ``routing_decide``, which reads the org's
providers and policy and writes the audit event of every decision and veto.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction

from access.actors import Actor
from compliance.audit import audit_record
from governance.models import GovernancePolicy, Provider
from metaqore_site.ids import public_id
from projects.sensitivity import classify, rank

LOCAL, CLOUD = Provider.Kind.LOCAL, Provider.Kind.CLOUD
Policy = GovernancePolicy.RoutingPolicy

# Names people use for the policies; the canonical name is what is stored and reported.
POLICY_ALIASES = {
    "default": Policy.DEFAULT_LOCAL_FIRST,
    "local_first": Policy.DEFAULT_LOCAL_FIRST,
    "enterprise": Policy.ENTERPRISE_RESIDENCY,
    "residency": Policy.ENTERPRISE_RESIDENCY,
    "compliance": Policy.COMPLIANCE_LOCAL_ONLY,
    "local_only": Policy.COMPLIANCE_LOCAL_ONLY,
    **{value: value for value in Policy.values},
}


def canonical_policy(name: str) -> str:
    """The canonical routing policy for ``name`` or one of its aliases (ValueError if none)."""
    try:
        return POLICY_ALIASES[name.strip().lower()]
    except (KeyError, AttributeError):
        valid = ", ".join(sorted(POLICY_ALIASES))
        raise ValueError(f"Unknown routing policy '{name}'. Valid: {valid}.") from None


def allowed_kinds(policy: str, sensitivity: str) -> tuple[str, ...]:
    """Provider kinds a task of ``sensitivity`` may use under ``policy``, in preference order."""
    if policy == Policy.COMPLIANCE_LOCAL_ONLY:
        return (LOCAL,)
    if policy == Policy.ENTERPRISE_RESIDENCY:
        return (LOCAL, CLOUD) if sensitivity == "public" else (LOCAL,)
    # default_local_first
    return (LOCAL,) if rank(sensitivity) >= rank("sensitive") else (LOCAL, CLOUD)


def allowed_providers(policy: str, sensitivity: str) -> list[str]:
    """Available providers allowed for the task: local kinds first, then by priority."""
    kinds = allowed_kinds(policy, sensitivity)
    rows = Provider.objects.filter(kind__in=kinds, available=True).values_list(
        "name", "kind", "priority", "latency_ms"
    )
    ordered = sorted(rows, key=lambda row: (kinds.index(row[1]), row[2], row[3], row[0]))
    return [name for name, *_ in ordered]


@dataclass
class RoutingDecision:
    decision_id: str
    sensitivity: str
    policy: str
    policy_revision: int
    allowed_providers: list[str]
    provider: str | None = None
    allowed: bool = True
    veto: dict | None = None
    extra: dict = field(default_factory=dict)

    @property
    def recommended_provider(self) -> str | None:
        return self.allowed_providers[0] if self.allowed_providers else None


def _veto_reason(provider_name: str, policy: str, sensitivity: str, allowed: list[str]):
    """(reason, policy_violated) when ``provider_name`` may not receive the task, else None."""
    provider = Provider.objects.filter(name=provider_name).values("kind", "available").first()
    if provider is None:
        return f"Unknown provider '{provider_name}'.", "unknown_provider"
    if provider["kind"] not in allowed_kinds(policy, sensitivity):
        return (
            f"Policy {policy} does not allow {provider['kind']} providers for {sensitivity} work.",
            policy,
        )
    if not provider["available"]:
        alternatives = f" Available instead: {', '.join(allowed)}." if allowed else ""
        return f"Provider '{provider_name}' is unavailable.{alternatives}", "provider_unavailable"
    return None


@transaction.atomic
def routing_decide(
    *,
    actor: Actor,
    agent_name: str = "",
    task_type: str = "",
    has_private_data: bool = False,
    has_sensitive_data: bool = False,
    is_security_task: bool = False,
    min_sensitivity: str | None = None,
    provider: str | None = None,
    task_id: str = "",
    project_id: str = "",
) -> RoutingDecision:
    """Classify a task and, when ``provider`` is given, allow or veto it. Audited either way."""
    policy = GovernancePolicy.load()
    sensitivity = classify(
        agent_name=agent_name,
        task_type=task_type,
        has_private_data=has_private_data,
        has_sensitive_data=has_sensitive_data,
        is_security_task=is_security_task,
        min_sensitivity=min_sensitivity,
    )
    decision = RoutingDecision(
        decision_id=public_id("dec"),
        sensitivity=sensitivity,
        policy=policy.routing_policy,
        policy_revision=policy.revision,
        allowed_providers=allowed_providers(policy.routing_policy, sensitivity),
        provider=provider,
    )
    if provider is not None:
        vetoed = _veto_reason(
            provider, policy.routing_policy, sensitivity, decision.allowed_providers
        )
        if vetoed:
            reason, violated = vetoed
            decision.allowed = False
            decision.veto = {
                "reason": reason,
                "policy_violated": violated,
                "severity": "critical",
                "sensitivity": sensitivity,
                "provider": provider,
            }
    audit_record(
        event_type="routing.decision" if decision.allowed else "routing.veto",
        actor=actor,
        agent_name=agent_name or (actor.name if actor.is_agent else ""),
        provider=provider or "",
        task_type=task_type,
        project_id=project_id,
        resource_type="task" if task_id else "routing",
        resource_id=task_id or decision.decision_id,
        payload={
            "decision_id": decision.decision_id,
            "policy": decision.policy,
            "policy_revision": decision.policy_revision,
            "sensitivity": sensitivity,
            "kind": "enforce" if provider is not None else "classify",
            "allowed": decision.allowed,
            "allowed_providers": decision.allowed_providers,
            "recommended_provider": decision.recommended_provider,
            **({"policy_violated": decision.veto["policy_violated"]} if decision.veto else {}),
            **({"reason": decision.veto["reason"]} if decision.veto else {}),
        },
    )
    return decision
