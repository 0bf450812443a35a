"""Simulation: replaying the decision log under a proposed policy is what applying the policy
and declaring the same things really does; simulating the current policy changes nothing;
a simulation writes nothing at all. And the per-rule report."""

from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from access.actors import Actor
from artifacts.services import artifact_declare, artifact_transition
from compliance.models import AuditEvent
from governance.models import AdmissionDecision, GovernancePolicy, PolicyRevision, Waiver
from governance.simulation import policy_simulate_change, rules_report
from governance.waivers import waiver_create, waiver_revoke
from projects.models import Project
from projects.services import project_create
from tests.governance.conftest import ADMIN, CODER, OFFICER, TESTER, rule, set_policy

STUDIO = Actor("agent", "studio", is_privileged=True)
SIMULATE = "/api/v1/governance/policy/simulate"

PROPOSED_RULES = [
    rule("paths-dryrun", "dryrun", conflict_types=["file_path_collision"]),
    rule("stale-auto", "auto_resolve", conflict_types=["stale_dependency"]),
    rule("tester-warn", "warn", agents=["tester"], min_severity="high"),
    rule("versions-enforce", "enforce", conflict_types=["version_mismatch"]),
]


def scenario(project: Project) -> list[str]:
    """Declarations raising every kind of conflict, by plain and privileged agents; returns
    the decision ids in order. Outcomes do not change later conflicts (blocked is a draft)."""
    ids = []

    def declare(actor, artifact_type, **fields):
        result = artifact_declare(
            actor=actor, project=project, artifact_type=artifact_type, data={}, **fields
        )
        ids.append(result.decision_id)
        return result

    declare(CODER, "code")
    declare(TESTER, "code")  # parallel_creation HIGH
    declare(CODER, "plan", version=3)  # version_mismatch MEDIUM
    declare(STUDIO, "code", version=99)  # parallel HIGH + version MEDIUM, privileged
    declare(STUDIO, "plan", version=7)  # version MEDIUM (+ parallel HIGH)
    declare(CODER, "docs", file_paths=["docs/a.md"])
    declare(TESTER, "guide", file_paths=["docs/a.md"])  # file_path_collision HIGH
    lib = declare(CODER, "lib")
    artifact_transition(artifact=lib.artifact, actor=CODER, to="active")
    lib2 = declare(CODER, "lib")
    artifact_transition(artifact=lib2.artifact, actor=CODER, to="active")  # archives lib v1
    declare(CODER, "app", depends_on=[lib.artifact.id])  # stale_dependency LOW
    declare(TESTER, "app", depends_on=[lib.artifact.id])  # stale LOW + parallel HIGH
    return ids


def outcomes(ids: list[str]) -> list[str]:
    by_id = dict(AdmissionDecision.objects.filter(pk__in=ids).values_list("id", "outcome"))
    return [by_id[i] for i in ids]


def by_rule(ids: list[str], rules: list[dict]) -> dict:
    counts = {r["id"]: Counter() for r in rules}
    key = {"enforce": "blocked", "warn": "warned", "dryrun": "dryrun"}
    key["auto_resolve"] = "auto_resolved"
    for decision in AdmissionDecision.objects.filter(pk__in=ids):
        for entry in decision.conflicts:
            if entry["rule_id"] in counts:
                counts[entry["rule_id"]]["matched"] += 1
                counts[entry["rule_id"]][key[entry["action"]]] += 1
    names = ("matched", "blocked", "warned", "dryrun", "auto_resolved")
    return {rule_id: {n: c[n] for n in names} for rule_id, c in counts.items()}


@pytest.fixture
def guide_waiver(org_a):
    return waiver_create(
        actor=OFFICER,
        match={"artifact_types": ["guide"]},
        justification="guides are being merged by hand this week",
        expires_at=timezone.now() + timedelta(days=3),
    )


@pytest.mark.parametrize("mode", ["strict", "adaptive", "playground"])
def test_simulation_equals_applying_the_policy_and_declaring_again(org_a, guide_waiver, mode):
    before_ids = scenario(project_create(actor=CODER, name="before"))
    start = timezone.now()
    simulated = policy_simulate_change(
        actor=ADMIN, mode=mode, rules=PROPOSED_RULES, since=start - timedelta(hours=1)
    )
    assert simulated["decisions"] == len(before_ids)

    set_policy(mode=mode, rules=PROPOSED_RULES)
    after_ids = scenario(project_create(actor=CODER, name="after"))
    before, after = outcomes(before_ids), outcomes(after_ids)
    assert before != after  # the proposed policy does change things
    changed = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    assert simulated["changed"] == len(changed)
    assert simulated["newly_blocked"] == sum(a == "blocked" for _, a in changed)
    assert simulated["newly_allowed"] == sum(b == "blocked" for b, _ in changed)
    assert simulated["blocked_after"] == after.count("blocked")
    assert simulated["by_rule"] == by_rule(after_ids, PROPOSED_RULES)
    examples = [(e["decision_id"], e["before"], e["after"]) for e in simulated["examples"]]
    expected = [
        (decision_id, b, a)
        for decision_id, b, a in zip(before_ids, before, after, strict=True)
        if b != a
    ]
    assert examples == expected


def test_simulating_the_current_policy_changes_nothing(org_a, guide_waiver):
    set_policy(rules=PROPOSED_RULES[:3], mode="adaptive")
    project = project_create(actor=CODER, name="history")
    first = scenario(project)
    # The waiver ends mid-history: decisions before keep it, those after never had it.
    waiver_revoke(waiver=guide_waiver, actor=OFFICER, reason="merged")
    second = scenario(project_create(actor=CODER, name="later"))
    assert "waived" in {
        c["action"] for d in AdmissionDecision.objects.filter(pk__in=first) for c in d.conflicts
    }
    assert "waived" not in {
        c["action"] for d in AdmissionDecision.objects.filter(pk__in=second) for c in d.conflicts
    }
    result = policy_simulate_change(actor=ADMIN, last=1000)
    assert result["decisions"] == len(first) + len(second)
    assert (result["changed"], result["newly_blocked"], result["newly_allowed"]) == (0, 0, 0)
    assert result["examples"] == []
    policy = GovernancePolicy.load()
    explicit = policy_simulate_change(actor=ADMIN, mode=policy.mode, rules=policy.rules, last=1000)
    assert explicit["changed"] == 0 and explicit["by_rule"] == result["by_rule"]


def test_simulation_writes_nothing(org_a, guide_waiver):
    scenario(project_create(actor=CODER, name="history"))
    tables = (AuditEvent, AdmissionDecision, Waiver, PolicyRevision)
    counts = [model.objects.count() for model in tables]
    policy = GovernancePolicy.load()
    head = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
    with CaptureQueriesContext(connection) as queries:
        result = policy_simulate_change(
            actor=ADMIN, mode="playground", rules=PROPOSED_RULES, last=500
        )
    assert result["changed"] > 0
    statements = [q["sql"].lstrip().split()[0].upper() for q in queries]
    assert set(statements) <= {"SELECT"}, statements
    assert not any("FOR UPDATE" in q["sql"] for q in queries)
    assert [model.objects.count() for model in tables] == counts
    assert AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() == head
    fresh = GovernancePolicy.load()
    assert (fresh.revision, fresh.mode, fresh.rules) == (policy.revision, policy.mode, policy.rules)
    assert Waiver.objects.get().use_count == guide_waiver.use_count + 1  # only the real use


def test_last_and_since_choose_the_decisions(org_a):
    ids = scenario(project_create(actor=CODER, name="history"))
    assert policy_simulate_change(actor=ADMIN, last=3)["decisions"] == 3
    newest = AdmissionDecision.objects.get(pk=ids[-1])
    assert policy_simulate_change(actor=ADMIN, since=newest.created_at)["decisions"] == 1
    future = timezone.now() + timedelta(days=1)
    empty = policy_simulate_change(actor=ADMIN, since=future)
    assert empty["decisions"] == 0 and empty["first_decision_at"] is None


def test_rules_report_counts_the_last_days(org_a):
    set_policy(
        rules=[
            rule("watch-high", "dryrun", min_severity="high"),
            rule("unused", "warn", agents=["nobody"]),
        ]
    )
    scenario(project_create(actor=CODER, name="history"))
    report = rules_report(GovernancePolicy.load().rules, days=7)
    watch = report["rules"]["watch-high"]
    assert watch["matched"] == watch["dryrun"] == watch["would_have_blocked"] > 0
    assert watch["blocked"] == 0
    assert report["rules"]["unused"]["matched"] == 0
    later = rules_report(
        GovernancePolicy.load().rules, days=7, now=timezone.now() + timedelta(days=8)
    )
    assert later["rules"]["watch-high"]["matched"] == 0


# --- API ---------------------------------------------------------------------------------------


def test_api_simulation(org_admin, officer, org_a):
    scenario(project_create(actor=CODER, name="history"))
    response = officer.post(
        SIMULATE, {"policy": {"rules": [rule("all-dryrun", "dryrun")]}, "last": 100}
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["newly_allowed"] > 0 and body["newly_blocked"] == 0
    assert body["by_rule"]["all-dryrun"]["matched"] == body["by_rule"]["all-dryrun"]["dryrun"]
    assert body["policy"]["rules"][0]["author"] == "user:olivia"
    assert {"decision_id", "before", "after"} <= set(body["examples"][0])
    assert GovernancePolicy.load().rules == []

    bad = org_admin.post(SIMULATE, {"policy": {"rules": [rule("x", "explode")]}})
    assert bad.status_code == 400 and "action" in bad.json()["policy"]["rules"]["x"]
    assert (
        org_admin.post(
            SIMULATE, {"policy": {}, "since": timezone.now().isoformat(), "last": 5}
        ).status_code
        == 400
    )
    assert org_admin.post(SIMULATE, {"policy": {}, "last": 0}).status_code == 400
    assert org_admin.post(SIMULATE, {"policy": {"mode": "lenient"}}).status_code == 400
    assert org_admin.post(SIMULATE, {}).status_code == 400
    assert org_admin.post(SIMULATE, {"policy": {}}).status_code == 200


def test_api_rules_report(org_admin, viewer, org_a):
    org_admin.patch("/api/v1/governance/policy", {"rules": [rule("watch", "dryrun")]})
    scenario(project_create(actor=CODER, name="history"))
    response = viewer.get("/api/v1/governance/policy/rules/report?days=7")
    assert response.status_code == 200
    assert response.json()["rules"]["watch"]["matched"] > 0
    assert viewer.get("/api/v1/governance/policy/rules/report?days=0").status_code == 400
