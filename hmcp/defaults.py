"""The HMCP defaults shipped in ``hmcp/defaults.json``: every new org's hierarchy
policy starts from them (data migration), and ``HierarchyPolicy.load()`` recreates them."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

DEFAULTS_PATH = Path(__file__).resolve().parent / "defaults.json"


@cache
def hmcp_defaults() -> dict[str, Any]:
    return json.loads(DEFAULTS_PATH.read_text())


def policy_field_values() -> dict[str, Any]:
    """The JSON file flattened into HierarchyPolicy's fields."""
    raw = hmcp_defaults()
    gate = raw["validation_gate"]
    return {
        "chaining_depth": raw["chaining_depth"],
        "levels": json.loads(json.dumps(raw["levels"])),  # a fresh copy
        "spawn_min_confidence": raw["spawn"]["min_confidence"],
        "require_task_isolation": raw["spawn"]["require_task_isolation"],
        "gate_functional_unit_test_min": gate["functional_unit_test_min"],
        "gate_catastrophic_forgetting_max_drop": gate["catastrophic_forgetting_max_drop"],
        "gate_adversarial_robustness_required": gate["adversarial_robustness_required"],
        "gate_psmp_compatibility_required": gate["psmp_compatibility_required"],
        "drift_max_drop": raw["drift"]["max_drop"],
        "retire_after_days": raw["retirement"]["idle_days"],
        "lease_minutes": raw["training"]["lease_minutes"],
        "discovery_min_repetitions": raw["discovery"]["min_repetitions"],
        "discovery_days": raw["discovery"]["days"],
    }
