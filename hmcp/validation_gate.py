"""The HMCP validation gate and drift, as pure functions: whether a trainer's reported metrics
let a specialist become active, the score drift is measured against, and how far a later
score fell below it. ``hmcp.training`` applies the gate; ``hmcp.drift`` and the services
apply drift."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

GATE_STAGES = (
    "functional_unit_test",
    "catastrophic_forgetting",
    "adversarial_robustness",
    "psmp_compatibility",
)


@dataclass(frozen=True)
class GateThresholds:
    functional_unit_test_min: float
    catastrophic_forgetting_max_drop: float
    adversarial_robustness_required: bool
    psmp_compatibility_required: bool


@dataclass
class GateResult:
    stages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(stage["passed"] for stage in self.stages)

    @property
    def failed_stages(self) -> list[str]:
        return [stage["stage"] for stage in self.stages if not stage["passed"]]

    def as_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "failed_stages": self.failed_stages, "stages": self.stages}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _stage(name: str, passed: bool, value: Any, requirement: str, reason: str) -> dict[str, Any]:
    return {
        "stage": name,
        "passed": passed,
        "value": value,
        "requirement": requirement,
        "reason": "" if passed else reason,
    }


def evaluate_gate(
    metrics: dict[str, Any], thresholds: GateThresholds, psmp_blockers: list[str]
) -> GateResult:
    """Judge a trainer's reported metrics. A missing or mistyped metric fails its stage.
    ``psmp_blockers`` (why the specialist's artifact may not become active) always fail
    psmp_compatibility, whatever the trainer reports."""
    result = GateResult()

    value = metrics.get("functional_unit_test")
    score, minimum = _number(value), thresholds.functional_unit_test_min
    result.stages.append(
        _stage(
            "functional_unit_test",
            score is not None and score >= minimum,
            value,
            f">= {minimum:g}",
            "functional_unit_test is missing or not a number"
            if score is None
            else f"functional_unit_test {score:g} is below {minimum:g}",
        )
    )

    value = metrics.get("catastrophic_forgetting_drop")
    drop, maximum = _number(value), thresholds.catastrophic_forgetting_max_drop
    result.stages.append(
        _stage(
            "catastrophic_forgetting",
            drop is not None and drop <= maximum,
            value,
            f"catastrophic_forgetting_drop <= {maximum:g}",
            "catastrophic_forgetting_drop is missing or not a number"
            if drop is None
            else f"catastrophic_forgetting_drop {drop:g} exceeds {maximum:g}",
        )
    )

    value = metrics.get("adversarial_robustness")
    required = thresholds.adversarial_robustness_required
    result.stages.append(
        _stage(
            "adversarial_robustness",
            value is True or not required,
            value,
            "true" if required else "not required",
            f"adversarial_robustness must be true (reported: {value!r})",
        )
    )

    value = metrics.get("psmp_compatibility")
    required = thresholds.psmp_compatibility_required
    reported_ok = value is True or not required
    reason = f"psmp_compatibility must be true (reported: {value!r})" if not reported_ok else ""
    if psmp_blockers:
        reason = "; ".join(filter(None, [reason, *psmp_blockers]))
    result.stages.append(
        _stage(
            "psmp_compatibility",
            reported_ok and not psmp_blockers,
            value,
            "true and no PSMP activation blockers" if required else "no PSMP activation blockers",
            reason,
        )
    )
    return result


def activation_score(metrics: dict[str, Any]) -> float | None:
    """The score drift is measured against: the gate's ``golden_set_score`` when the trainer
    reports one, else its ``functional_unit_test`` score."""
    for key in ("golden_set_score", "functional_unit_test"):
        score = _number(metrics.get(key))
        if score is not None:
            return score
    return None


def drift_drop(reference: float | None, observed: float) -> float | None:
    """How far ``observed`` fell below ``reference``, as a fraction of it (0.1 = 10% lower)."""
    if reference is None or reference <= 0:
        return None
    return (reference - observed) / reference


def drift_detected(reference: float | None, observed: float, max_drop: float) -> bool:
    drop = drift_drop(reference, observed)
    return drop is not None and drop > max_drop
