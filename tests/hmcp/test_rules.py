"""The HMCP rules as pure functions: every evaluation rule and its reason text, size parsing
and the defaults file. No database (the gate and drift: test_validation_gate.py)."""

from __future__ import annotations

import pytest

from hmcp import rules
from hmcp.defaults import hmcp_defaults, policy_field_values
from hmcp.rules import (
    HierarchyRules,
    ParentFacts,
    Proposal,
    SkillFacts,
    evaluate_proposal,
    parse_levels,
    parse_size,
)

LEVELS = parse_levels(hmcp_defaults()["levels"])
RULES = HierarchyRules(
    chaining_depth=2, levels=LEVELS, min_confidence=0.93, require_task_isolation=True
)
SKILL = SkillFacts("data-cleaning", 500, ("gpt-4o", "llama-3-70b"))


def make(**overrides) -> Proposal:
    fields = {
        "skill_id": "data-cleaning",
        "teachers": ("gpt-4o",),
        "requested_size_mb": 120,
        "parameter_count": 150_000_000,
        "confidence": 0.95,
        "task_isolation_passed": True,
        "parent_level_identifier": None,
    }
    fields.update(overrides)
    return Proposal(**fields)


def evaluate(proposal: Proposal, **kwargs) -> rules.Evaluation:
    kwargs.setdefault("skill", SKILL)
    kwargs.setdefault("rules", RULES)
    return evaluate_proposal(proposal, **kwargs)


def messages(evaluation: rules.Evaluation) -> dict[str, str]:
    return {reason.code: reason.message for reason in evaluation.reasons}


# --- sizes, levels, defaults ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("200M_params", 200_000_000),
        ("10M_params", 10_000_000),
        ("1.5B_params", 1_500_000_000),
        ("750K", 750_000),
        ("2t_params", 2 * 10**12),
        ("5000", 5000),
        (" 3M ", 3_000_000),
        (42, 42),
    ],
)
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "M_params", "200X_params", "-5M", "0M_params", True, 0])
def test_parse_size_refuses_what_is_not_a_size(text):
    with pytest.raises(ValueError):
        parse_size(text)


def test_defaults_file_has_the_issue_values():
    values = policy_field_values()
    assert values["chaining_depth"] == 2
    assert values["spawn_min_confidence"] == 0.93
    assert values["gate_functional_unit_test_min"] == 0.96
    assert values["gate_catastrophic_forgetting_max_drop"] == 0.01
    assert values["gate_adversarial_robustness_required"] is True
    assert values["gate_psmp_compatibility_required"] is True
    assert values["drift_max_drop"] == 0.05
    assert values["retire_after_days"] == 30
    level_1, level_2 = LEVELS["level_1"], LEVELS["level_2"]
    assert (level_1.name, level_1.max_parameters, level_1.can_spawn) == (
        "domain_specialist",
        200_000_000,
        True,
    )
    assert (level_2.name, level_2.max_parameters, level_2.can_spawn) == (
        "micro_specialist",
        10_000_000,
        False,
    )


@pytest.mark.parametrize(
    ("levels", "message"),
    [
        ({}, "non-empty object"),
        ({"top": {"name": "x", "max_size": "1M"}}, "'top' is not a level identifier"),
        ({"level_1": "big"}, "level_1 must be an object"),
        ({"level_1": {"max_size": "1M"}}, "level_1 needs a name"),
        ({"level_1": {"name": "x", "max_size": "lots"}}, "level_1.max_size"),
        ({"level_1": {"name": "x", "max_size": "1M", "can_spawn": "yes"}}, "can_spawn"),
        ({"level_2": {"name": "x", "max_size": "1M"}}, "without gaps"),
    ],
)
def test_parse_levels_says_what_is_wrong(levels, message):
    with pytest.raises(ValueError, match=message):
        parse_levels(levels)


# --- evaluation: each rule alone, with its reason text --------------------------------------


def test_a_good_top_level_proposal_is_allowed():
    evaluation = evaluate(make())
    assert evaluation.allowed and evaluation.reasons == []
    assert evaluation.target_level.identifier == "level_1"
    assert evaluation.spawn_decision["required"] is False
    assert evaluation.spawn_decision["allowed"] is None


def test_unknown_skill():
    evaluation = evaluate(make(skill_id="juggling"), skill=None)
    assert evaluation.codes == ["unknown_skill"]
    assert messages(evaluation)["unknown_skill"] == (
        "Skill 'juggling' is not in the skill registry (registry_only): an org_admin must "
        "register it first."
    )


def test_teacher_not_allowed():
    evaluation = evaluate(make(teachers=("gpt-4o", "claude-x")))
    assert evaluation.codes == ["teacher_not_allowed"]
    assert messages(evaluation)["teacher_not_allowed"] == (
        "Teacher 'claude-x' is not allowed for skill 'data-cleaning': allowed are gpt-4o, "
        "llama-3-70b, or specialist:<skill> of an active specialist."
    )


def test_each_unauthorized_teacher_is_its_own_reason():
    evaluation = evaluate(make(teachers=("a", "b", "gpt-4o")))
    assert evaluation.codes == ["teacher_not_allowed", "teacher_not_allowed"]


def test_an_active_specialist_may_teach():
    proposal = make(teachers=("specialist:sql-tuning",))
    assert evaluate(proposal, active_specialist_skills=frozenset({"sql-tuning"})).allowed
    evaluation = evaluate(proposal)
    assert evaluation.codes == ["teacher_not_active_specialist"]
    assert messages(evaluation)["teacher_not_active_specialist"] == (
        "Teacher 'specialist:sql-tuning' is not an active specialist: only ACTIVE specialists "
        "may teach, or a teacher allowed by skill 'data-cleaning' (gpt-4o, llama-3-70b)."
    )


def test_size_over_skill_budget():
    evaluation = evaluate(make(requested_size_mb=512.5))
    assert evaluation.codes == ["size_over_skill_budget"]
    assert messages(evaluation)["size_over_skill_budget"] == (
        "Requested size 512.5 MB exceeds the budget of skill 'data-cleaning' (500 MB)."
    )


def test_size_over_level_budget():
    evaluation = evaluate(make(parameter_count=200_000_001))
    assert evaluation.codes == ["size_over_level_budget"]
    assert messages(evaluation)["size_over_level_budget"] == (
        "parameter_count 200,000,001 exceeds the budget of level_1 (domain_specialist): "
        "200M_params (200,000,000 parameters)."
    )
    assert evaluate(make(parameter_count=200_000_000)).allowed  # the budget itself is fine


def test_a_child_at_level_2_with_good_spawn_facts_is_allowed():
    evaluation = evaluate(make(parent_level_identifier="level_1", parameter_count=9_000_000))
    assert evaluation.allowed
    assert evaluation.target_level.identifier == "level_2"
    assert evaluation.spawn_decision == {
        "required": True,
        "allowed": True,
        "parent_level": "level_1",
        "can_spawn": True,
        "confidence": 0.95,
        "min_confidence": 0.93,
        "task_isolation_passed": True,
        "require_task_isolation": True,
    }


def test_child_size_is_checked_against_the_child_level():
    evaluation = evaluate(make(parent_level_identifier="level_1", parameter_count=10_000_001))
    assert evaluation.codes == ["size_over_level_budget"]
    assert (
        "level_2 (micro_specialist): 10M_params" in messages(evaluation)["size_over_level_budget"]
    )


def test_unknown_parent_level():
    evaluation = evaluate(make(parent_level_identifier="level_9"))
    assert evaluation.codes == ["unknown_parent_level"]
    assert messages(evaluation)["unknown_parent_level"] == (
        "Parent level 'level_9' is not a level of the hierarchy policy (levels: level_1, level_2)."
    )
    assert evaluation.spawn_decision["allowed"] is False


def test_parent_level_that_cannot_spawn_and_has_no_level_below():
    evaluation = evaluate(make(parent_level_identifier="level_2", parameter_count=1000))
    assert evaluation.codes == ["parent_cannot_spawn", "no_next_level"]
    assert messages(evaluation) == {
        "parent_cannot_spawn": "Level level_2 (micro_specialist) cannot spawn child specialists.",
        "no_next_level": "There is no level below level_2: the hierarchy ends there.",
    }


def test_chaining_depth_exceeded():
    levels = parse_levels(
        {
            "level_1": {"name": "a", "max_size": "1B", "can_spawn": True},
            "level_2": {"name": "b", "max_size": "100M", "can_spawn": True},
            "level_3": {"name": "c", "max_size": "1M", "can_spawn": False},
        }
    )
    shallow = HierarchyRules(2, levels, 0.93, True)
    evaluation = evaluate(
        make(parent_level_identifier="level_2", parameter_count=1000), rules=shallow
    )
    assert evaluation.codes == ["chaining_depth_exceeded"]
    assert messages(evaluation)["chaining_depth_exceeded"] == (
        "A child at level_3 would be 3 levels deep; the chaining depth is 2."
    )
    deep = HierarchyRules(3, levels, 0.93, True)
    assert evaluate(
        make(parent_level_identifier="level_2", parameter_count=1000), rules=deep
    ).allowed


def test_confidence_below_threshold():
    evaluation = evaluate(
        make(parent_level_identifier="level_1", parameter_count=1000, confidence=0.92)
    )
    assert evaluation.codes == ["confidence_below_threshold"]
    assert messages(evaluation)["confidence_below_threshold"] == (
        "Spawn confidence 0.92 is below the threshold 0.93."
    )
    missing = evaluate(make(parent_level_identifier="level_1", parameter_count=1, confidence=None))
    assert messages(missing)["confidence_below_threshold"] == (
        "Spawn confidence missing is below the threshold 0.93."
    )
    assert evaluate(
        make(parent_level_identifier="level_1", parameter_count=1, confidence=0.93)
    ).allowed


def test_task_not_isolated():
    evaluation = evaluate(
        make(parent_level_identifier="level_1", parameter_count=1000, task_isolation_passed=False)
    )
    assert evaluation.codes == ["task_not_isolated"]
    assert messages(evaluation)["task_not_isolated"] == (
        "The task is not functionally separable (task_isolation_passed is false): a child "
        "specialist needs an isolated task."
    )
    assert evaluation.spawn_decision["allowed"] is False


def test_spawn_rules_do_not_apply_to_top_level_proposals():
    assert evaluate(make(confidence=0.1, task_isolation_passed=False)).allowed


def test_parent_specialist_rules():
    proposal = make(parameter_count=1000, parent_specialist_id="spec_aaaaaaaaaaaaaaaa")
    missing = evaluate(proposal, parent=None)
    assert missing.codes == ["parent_specialist_not_found"]
    assert missing.target_level is None
    assert messages(missing)["parent_specialist_not_found"] == (
        "Parent specialist 'spec_aaaaaaaaaaaaaaaa' does not exist."
    )

    training = ParentFacts("spec_aaaaaaaaaaaaaaaa", "level_1", "training")
    evaluation = evaluate(proposal, parent=training)
    assert evaluation.codes == ["parent_specialist_not_active"]
    assert evaluation.target_level.identifier == "level_2"  # the parent's level is inferred
    assert messages(evaluation)["parent_specialist_not_active"] == (
        "Parent specialist spec_aaaaaaaaaaaaaaaa is training: only an active specialist can "
        "spawn a child."
    )

    active = ParentFacts("spec_aaaaaaaaaaaaaaaa", "level_1", "active")
    assert evaluate(proposal, parent=active).allowed
    mismatch = evaluate(
        make(
            parameter_count=1000,
            parent_specialist_id="spec_aaaaaaaaaaaaaaaa",
            parent_level_identifier="level_2",
        ),
        parent=active,
    )
    assert mismatch.codes[0] == "parent_level_mismatch"
    assert messages(mismatch)["parent_level_mismatch"] == (
        "Parent specialist spec_aaaaaaaaaaaaaaaa is at level_1, not at level_2."
    )


def test_every_failing_rule_is_reported_not_just_the_first():
    evaluation = evaluate(
        make(
            teachers=("gpt-4o", "rogue-model", "specialist:nobody"),
            requested_size_mb=900,
            parent_level_identifier="level_1",
            parameter_count=50_000_000,
            confidence=0.5,
            task_isolation_passed=False,
        )
    )
    assert evaluation.codes == [
        "teacher_not_allowed",
        "teacher_not_active_specialist",
        "size_over_skill_budget",
        "size_over_level_budget",
        "confidence_below_threshold",
        "task_not_isolated",
    ]
    assert not evaluation.allowed


def test_unknown_skill_still_reports_the_level_rules():
    evaluation = evaluate(
        make(skill_id="nope", parent_level_identifier="level_2", parameter_count=1),
        skill=None,
    )
    assert evaluation.codes == ["unknown_skill", "parent_cannot_spawn", "no_next_level"]


def test_isolation_can_be_switched_off_by_policy():
    lenient = HierarchyRules(2, LEVELS, 0.93, require_task_isolation=False)
    proposal = make(
        parent_level_identifier="level_1", parameter_count=1, task_isolation_passed=False
    )
    assert evaluate(proposal, rules=lenient).allowed
