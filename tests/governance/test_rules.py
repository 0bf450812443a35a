"""Policy as rules: each action, first-match order, fallback to the mode, separation of duties,
the conflicts' verdicts and the audit events, through the declaration service."""

import pytest
from django.core.exceptions import ValidationError

from access.actors import Actor
from artifacts.models import Conflict
from artifacts.services import artifact_declare, artifact_update_draft
from compliance.models import AuditEvent
from governance.models import AdmissionDecision, GovernancePolicy
from governance.policy import policy_update
from governance.resolution import conflict_resolve
from governance.rules import (
    ConflictFacts,
    RulesInvalid,
    WaiverTerms,
    clean_rules,
    evaluate,
    matches,
)
from governance.simulation import policy_simulate_change
from metaqore_site.errors import GovernanceForbidden
from tests.governance.conftest import ADMIN, CODER, OFFICER, TESTER, rule, set_policy

HIGH = ConflictFacts("parallel_creation", "high", "proj_1", "code", "agent:tester", ("src/a.py",))
LOW = ConflictFacts("stale_dependency", "low", "proj_1", "docs", "agent:coder", ("docs/a.md",))


# --- the pure evaluation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("match", "expected"),
    [
        ({}, True),
        ({"conflict_types": ["*"]}, True),
        ({"conflict_types": ["parallel_creation", "x"]}, True),
        ({"conflict_types": ["file_path_collision"]}, False),
        ({"min_severity": "high"}, True),
        ({"min_severity": "critical"}, False),
        ({"project_ids": ["proj_1"]}, True),
        ({"project_ids": ["proj_2"]}, False),
        ({"artifact_types": ["co*"]}, True),
        ({"artifact_types": ["doc*"]}, False),
        ({"agents": ["tester"]}, True),
        ({"agents": ["agent:tester"]}, True),
        ({"agents": ["coder"]}, False),
        ({"paths": ["src/*"]}, True),
        ({"paths": ["docs/*"]}, False),
        ({"min_severity": "medium", "agents": ["tester"], "paths": ["src/*.py"]}, True),
        ({"min_severity": "medium", "agents": ["coder"]}, False),
    ],
)
def test_match_fields(match, expected):
    assert matches(match, HIGH) is expected


def test_first_matching_rule_decides():
    rules = [
        rule("docs-warn", "warn", artifact_types=["docs"]),
        rule("all-dryrun", "dryrun"),
        rule("never-reached", "enforce"),
    ]
    evaluation = evaluate([LOW, HIGH], mode="strict", rules=rules)
    assert [(v.rule_id, v.action) for v in evaluation.verdicts] == [
        ("docs-warn", "warn"),
        ("all-dryrun", "dryrun"),
    ]
    assert evaluation.outcome == "accepted_with_warnings"


@pytest.mark.parametrize(
    ("mode", "privileged", "facts", "actions", "outcome"),
    [
        ("strict", None, [LOW], ["enforce"], "blocked"),
        ("strict", "agent:studio", [LOW, HIGH], ["auto_resolve", "enforce"], "blocked"),
        ("strict", "agent:studio", [LOW], ["auto_resolve"], "auto_resolved"),
        ("adaptive", None, [LOW], ["auto_resolve"], "auto_resolved"),
        ("adaptive", None, [HIGH], ["enforce"], "blocked"),
        ("playground", None, [LOW, HIGH], ["warn", "warn"], "accepted_with_warnings"),
        (
            "playground",
            "agent:studio",
            [LOW, HIGH],
            ["auto_resolve", "warn"],
            "accepted_with_warnings",
        ),
        ("strict", None, [], [], "accepted"),
    ],
)
def test_without_rules_the_mode_decides_as_before(mode, privileged, facts, actions, outcome):
    evaluation = evaluate(facts, mode=mode, rules=[], privileged=privileged)
    assert [v.action for v in evaluation.verdicts] == actions
    assert all(v.rule_id is None for v in evaluation.verdicts)
    assert evaluation.outcome == outcome


def test_a_rule_that_does_not_match_falls_back_to_the_mode():
    rules = [rule("docs-only", "enforce", artifact_types=["docs"])]
    evaluation = evaluate([HIGH], mode="playground", rules=rules)
    assert (evaluation.verdicts[0].rule_id, evaluation.verdicts[0].action) == (None, "warn")


def test_waiver_comes_before_rules():
    waiver = WaiverTerms("wvr_1", {"agents": ["tester"]})
    evaluation = evaluate(
        [HIGH, LOW], mode="strict", rules=[rule("all", "enforce")], waivers=[waiver]
    )
    assert [(v.action, v.waiver_id) for v in evaluation.verdicts] == [
        ("waived", "wvr_1"),
        ("enforce", None),
    ]


def test_auto_resolve_of_high_needs_a_rule_by_an_org_admin():
    by_admin = {**rule("auto", "auto_resolve"), "author": "user:adam", "author_is_org_admin": True}
    by_system = {**by_admin, "author": "system", "author_is_org_admin": False}
    assert evaluate([HIGH], mode="strict", rules=[by_admin]).outcome == "auto_resolved"
    verdict = evaluate([HIGH], mode="strict", rules=[by_system]).verdicts[0]
    assert verdict.action == "enforce" and "separation of duties" in verdict.note
    # LOW/MEDIUM need no such author
    assert evaluate([LOW], mode="strict", rules=[by_system]).outcome == "auto_resolved"


@pytest.mark.parametrize(
    ("rules", "rule_name", "field"),
    [
        ([{"id": "Bad Id", "action": "warn"}], "#1", "id"),
        ([rule("a", "block")], "a", "action"),
        ([rule("a", "warn", min_severity="urgent")], "a", "match.min_severity"),
        ([rule("a", "warn", conflict_types="x")], "a", "match.conflict_types"),
        ([rule("a", "warn", colour=["red"])], "a", "match.colour"),
        ([rule("a", "warn", paths=[])], "a", "match.paths"),
        ([rule("a", "warn"), rule("a", "enforce")], "a", "id"),
        ([{**rule("a", "warn"), "extra": 1}], "a", "extra"),
    ],
)
def test_invalid_rules_name_the_rule_and_field(rules, rule_name, field):
    with pytest.raises(RulesInvalid) as caught:
        clean_rules(rules)
    assert field in caught.value.errors[rule_name], caught.value.errors


# --- through the declaration service -----------------------------------------------------------


def parallel(project, artifact_type="code", **fields):
    """Two agents declare the same line: the second gets a HIGH parallel_creation conflict."""
    artifact_declare(actor=CODER, project=project, artifact_type=artifact_type, data={})
    return artifact_declare(
        actor=TESTER, project=project, artifact_type=artifact_type, data={}, **fields
    )


def events_of(artifact_id: str) -> list[str]:
    conflict_ids = list(
        Conflict.objects.filter(artifact_id=artifact_id).values_list("id", flat=True)
    )
    return list(
        AuditEvent.objects.filter(resource_id__in=[artifact_id, *conflict_ids])
        .order_by("seq")
        .values_list("event_type", flat=True)
    )


def test_enforce_blocks(project):
    set_policy(mode="playground", rules=[rule("code-enforce", "enforce", artifact_types=["code"])])
    result = parallel(project)
    assert result.outcome == "blocked" and result.artifact.is_blocked
    (conflict,) = result.conflicts
    assert (conflict.status, conflict.rule_id, conflict.action) == (
        "open",
        "code-enforce",
        "enforce",
    )


def test_warn_accepts_with_the_conflict_open(project):
    set_policy(rules=[rule("warn-high", "warn", min_severity="high")])
    result = parallel(project)
    assert result.outcome == "accepted_with_warnings" and not result.artifact.is_blocked
    (conflict,) = result.conflicts
    assert (conflict.status, conflict.action) == ("open", "warn")


def test_dryrun_accepts_and_records_without_blocking(project):
    set_policy(rules=[rule("try-it", "dryrun", conflict_types=["parallel_creation"])])
    result = parallel(project)
    assert result.outcome == "accepted" and not result.artifact.is_blocked
    (conflict,) = result.conflicts
    assert (conflict.status, conflict.rule_id, conflict.action) == ("dryrun", "try-it", "dryrun")
    assert not Conflict.objects.filter(pk=conflict.pk, status__in=Conflict.UNRESOLVED).exists()
    decision = AdmissionDecision.objects.get(pk=result.decision_id)
    assert decision.rule_ids == ["try-it"] and decision.outcome == "accepted"
    assert events_of(result.artifact.id) == ["artifact.declared", "conflict.detected"]


def test_auto_resolve_by_the_rule_shows_separation_of_duties(project):
    set_policy(rules=[rule("ship-it", "auto_resolve", conflict_types=["*"])])
    result = parallel(project)
    assert result.outcome == "auto_resolved" and not result.artifact.is_blocked
    (conflict,) = result.conflicts
    assert (conflict.status, conflict.resolution_strategy, conflict.resolved_by) == (
        "resolved",
        "override",
        "policy:ship-it",
    )
    assert events_of(result.artifact.id) == [
        "artifact.declared",
        "conflict.detected",
        "conflict.resolved",
    ]
    resolved = AuditEvent.objects.get(event_type="conflict.resolved", resource_id=conflict.id)
    assert resolved.payload["rule_id"] == "ship-it"
    assert resolved.payload["separation_of_duties"] == {
        "rule_author": "user:adam",
        "author_role": "org_admin",
    }


def test_auto_resolve_rule_written_outside_an_org_admin_enforces_high(project):
    set_policy(rules=[rule("ship-it", "auto_resolve")])
    policy = GovernancePolicy.load()
    policy.rules = [{**policy.rules[0], "author": "system", "author_is_org_admin": False}]
    policy.save()  # a shell edit (audited as system), not through the service
    result = parallel(project)
    assert result.outcome == "blocked"
    assert result.conflicts[0].action == "enforce"
    assert "separation of duties" in result.conflicts[0].details["policy_note"]


def test_no_matching_rule_falls_back_to_mode(project):
    set_policy(mode="playground", rules=[rule("docs", "enforce", artifact_types=["docs"])])
    result = parallel(project)
    assert result.outcome == "accepted_with_warnings"
    assert (result.conflicts[0].rule_id, result.conflicts[0].action) == (None, "warn")


def test_rules_keep_their_author_until_match_or_action_change(org_a):
    set_policy(rules=[rule("a", "warn")])
    officer_admin = Actor("user", "ada", roles=frozenset({"org_admin"}))
    changed = [{**rule("a", "warn"), "description": "new words"}, rule("b", "dryrun")]
    policy = policy_update(actor=officer_admin, changes={"rules": changed})
    assert [(r["id"], r["author"]) for r in policy.rules] == [("a", "user:adam"), ("b", "user:ada")]
    policy = policy_update(actor=officer_admin, changes={"rules": [rule("a", "enforce")]})
    assert policy.rules[0]["author"] == "user:ada"


def test_service_refuses_invalid_rules_and_non_admins(org_a):
    with pytest.raises(ValidationError):
        set_policy(rules=[rule("a", "nope")])
    officer = Actor("user", "olivia", roles=frozenset({"compliance_officer"}))
    with pytest.raises(GovernanceForbidden):
        policy_update(actor=officer, changes={"rules": [rule("a", "warn")]})
    assert GovernancePolicy.load().rules == []
    assert ADMIN.has_role("org_admin")


def test_draft_update_is_a_decision_and_escalation_holds_it(project):
    first = artifact_declare(actor=CODER, project=project, artifact_type="code", data={})
    blocked = artifact_declare(actor=TESTER, project=project, artifact_type="code", data={})
    conflict_resolve(conflict=blocked.conflicts[0], actor=OFFICER, strategy="escalate")
    updated = artifact_update_draft(
        artifact=blocked.artifact, actor=TESTER, changes={"data": {"v": 2}}
    )
    assert updated.outcome == "blocked"
    decision = AdmissionDecision.objects.get(pk=updated.decision_id)
    assert (decision.kind, decision.held, decision.outcome) == ("update", True, "blocked")
    # Even a policy that lets every conflict through keeps a held decision blocked.
    result = policy_simulate_change(actor=ADMIN, rules=[rule("all", "dryrun")], last=10)
    assert result["by_rule"]["all"]["dryrun"] == 2
    assert [e["decision_id"] for e in result["examples"]] == [blocked.decision_id]
    assert first.decision_id not in [e["decision_id"] for e in result["examples"]]
