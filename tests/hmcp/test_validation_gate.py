"""The validation gate (each stage failing alone, its boundaries, what policy switches off)
and drift, as pure functions. No database."""

from __future__ import annotations

import pytest

from hmcp import validation_gate
from hmcp.validation_gate import GateThresholds, evaluate_gate

THRESHOLDS = GateThresholds(0.96, 0.01, True, True)
MISSING = object()
GOOD = {
    "functional_unit_test": 0.97,
    "catastrophic_forgetting_drop": 0.004,
    "adversarial_robustness": True,
    "psmp_compatibility": True,
}


# --- the validation gate: each stage failing alone --------------------------------------------


def test_gate_passes_good_metrics():
    result = evaluate_gate(GOOD, THRESHOLDS, [])
    assert result.passed and result.failed_stages == []
    assert [stage["stage"] for stage in result.stages] == list(validation_gate.GATE_STAGES)


@pytest.mark.parametrize(
    ("change", "stage", "reason"),
    [
        (
            {"functional_unit_test": 0.95},
            "functional_unit_test",
            "functional_unit_test 0.95 is below 0.96",
        ),
        ({"functional_unit_test": MISSING}, "functional_unit_test", "missing or not a number"),
        ({"functional_unit_test": "0.99"}, "functional_unit_test", "missing or not a number"),
        (
            {"catastrophic_forgetting_drop": 0.02},
            "catastrophic_forgetting",
            "catastrophic_forgetting_drop 0.02 exceeds 0.01",
        ),
        (
            {"catastrophic_forgetting_drop": True},
            "catastrophic_forgetting",
            "missing or not a number",
        ),
        (
            {"adversarial_robustness": False},
            "adversarial_robustness",
            "adversarial_robustness must be true (reported: False)",
        ),
        ({"adversarial_robustness": "yes"}, "adversarial_robustness", "must be true"),
        (
            {"psmp_compatibility": False},
            "psmp_compatibility",
            "psmp_compatibility must be true (reported: False)",
        ),
    ],
)
def test_each_gate_stage_fails_alone(change, stage, reason):
    metrics = {key: value for key, value in {**GOOD, **change}.items() if value is not MISSING}
    result = evaluate_gate(metrics, THRESHOLDS, [])
    assert result.failed_stages == [stage]
    failed = next(s for s in result.stages if s["stage"] == stage)
    assert reason in failed["reason"]


def test_gate_boundaries_pass():
    edge = {**GOOD, "functional_unit_test": 0.96, "catastrophic_forgetting_drop": 0.01}
    assert evaluate_gate(edge, THRESHOLDS, []).passed


def test_psmp_blockers_fail_the_psmp_stage_whatever_the_trainer_says():
    result = evaluate_gate(GOOD, THRESHOLDS, ["unresolved conflict conf_1 (duplicate_specialist)"])
    assert result.failed_stages == ["psmp_compatibility"]
    assert "unresolved conflict conf_1" in result.stages[-1]["reason"]


def test_gate_requirements_can_be_switched_off():
    lenient = GateThresholds(0.96, 0.01, False, False)
    metrics = {"functional_unit_test": 0.99, "catastrophic_forgetting_drop": 0}
    assert evaluate_gate(metrics, lenient, []).passed


# --- drift ------------------------------------------------------------------------------------


def test_activation_score_prefers_the_golden_set():
    assert validation_gate.activation_score({**GOOD, "golden_set_score": 0.9}) == 0.9
    assert validation_gate.activation_score(GOOD) == 0.97
    assert validation_gate.activation_score({}) is None


@pytest.mark.parametrize(
    ("observed", "drifted"),
    [(0.95, False), (0.9025, False), (0.9, True), (0.5, True), (1.0, False)],
)
def test_drift_is_more_than_five_percent_below_the_activation_score(observed, drifted):
    assert validation_gate.drift_detected(0.95, observed, 0.05) is drifted


def test_no_reference_score_no_drift():
    assert validation_gate.drift_detected(None, 0.1, 0.05) is False
    assert validation_gate.drift_detected(0.0, 0.0, 0.05) is False
