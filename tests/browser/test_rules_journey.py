"""Rolling out a rule in a real browser (issue #20): an org admin adds a dry-run rule, saves
it, reads what it matched, switches it to enforce, simulates the change against the decision
log, and saves it; the next declaration that the rule matches is blocked. And a compliance
officer grants and revokes a waiver."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from access.actors import Actor
from artifacts.services import artifact_declare
from compliance.selectors import unaudited_changes
from governance.models import GovernancePolicy, Waiver
from governance.policy import policy_update
from projects.services import project_create

pytestmark = pytest.mark.browser

CODER, TESTER = Actor("agent", "coder"), Actor("agent", "tester")
ADA = Actor("user", "ada", roles=frozenset({"org_admin"}))


def parallel_pair(project, line: str):
    """The coder, then the tester, declare ``line``: one HIGH parallel_creation conflict."""
    artifact_declare(actor=CODER, project=project, artifact_type=line, data={})
    return artifact_declare(actor=TESTER, project=project, artifact_type=line, data={})


def select(element, value: str) -> None:
    from selenium.webdriver.support.select import Select

    Select(element).select_by_value(value)


def summary_numbers(browser) -> tuple[int, int, int, int]:
    """(blocked after, decisions, newly blocked, newly allowed) from the simulation summary."""
    text = browser.text("#simulation-summary")
    found = re.search(r"would have blocked (\d+) of the last (\d+) declarations", text)
    assert found, text
    newly = re.search(r"(\d+) newly blocked, (\d+) newly allowed", text)
    assert newly, text
    return int(found[1]), int(found[2]), int(newly[1]), int(newly[2])


@pytest.fixture(scope="module")
def history(in_org):
    """A playground org (conflicts only warn) with three parallel declarations."""
    with in_org():
        policy_update(actor=ADA, changes={"mode": "playground", "rules": []})
        project = project_create(actor=CODER, name="Rollout")
        for index in range(3):
            assert parallel_pair(project, f"service{index}").outcome == "accepted_with_warnings"
    return project


def test_admin_rolls_out_a_rule_dryrun_then_enforce(browser, history, in_org):
    browser.login("ada")
    browser.open("/dashboard/rules/")
    assert browser.exists('a[href="/dashboard/rules/"][aria-current="page"]')

    # 1. Add the rule as a dry run: a draft until saved
    form = browser.css("form#rule-form")
    browser.css("input[name=id]", within=form).send_keys("no-parallel-work")
    select(browser.css("select[name=action]", within=form), "dryrun")
    browser.css("input[name=conflict_types]", within=form).send_keys("parallel_creation")
    browser.css("input[name=description]", within=form).send_keys("two agents on one line")
    browser.submit(form)
    browser.css("#draft-banner")
    browser.css('tr[data-rule="no-parallel-work"]')
    with in_org():
        assert GovernancePolicy.load().rules == []

    # 2. Simulate the draft: a dry run blocks nothing
    browser.click_and_wait(browser.css("button#simulate"))
    blocked_after, decisions, newly_blocked, _ = summary_numbers(browser)
    assert (blocked_after, decisions, newly_blocked) == (0, 6, 0)
    browser.screenshot("rules_simulate_dryrun")

    # 3. Save it
    browser.click_and_wait(browser.css("button#save-rules"))
    assert browser.text(".messages .success")
    assert not browser.exists("#draft-banner")
    with in_org():
        (saved,) = GovernancePolicy.load().rules
        assert (saved["id"], saved["action"], saved["author"]) == (
            "no-parallel-work",
            "dryrun",
            "user:ada",
        )
        # Agents keep declaring: the dry run records what it would have blocked.
        result = parallel_pair(history, "service3")
        assert result.outcome == "accepted"
        assert result.conflicts[0].action == "dryrun"

    browser.open("/dashboard/rules/")
    row = browser.css('tr[data-rule="no-parallel-work"]')
    assert browser.css("[data-matched]", within=row).text == "1"
    assert browser.css("[data-would-block]", within=row).text == "1"
    browser.screenshot("rules_dryrun_report")

    # 4. Switch it to enforce (the select submits itself), then simulate the change
    select(browser.css("select[name=action]", within=row), "enforce")
    browser.wait_loaded()
    browser.css("#draft-banner")
    with in_org():
        assert GovernancePolicy.load().rules[0]["action"] == "dryrun"
    row = browser.css('tr[data-rule="no-parallel-work"]')
    assert browser.css("select[name=action]", within=row).get_attribute("value") == "enforce"
    browser.click_and_wait(browser.css("button#simulate"))
    blocked_after, decisions, newly_blocked, newly_allowed = summary_numbers(browser)
    assert (blocked_after, decisions, newly_blocked, newly_allowed) == (4, 8, 4, 0)
    examples = browser.all("#simulation-examples tbody tr")
    assert len(examples) == 4
    enforce_row = browser.css('#simulation-by-rule tr[data-rule="no-parallel-work"]')
    assert enforce_row.text.split()[1:3] == ["4", "4"]  # matched, blocked
    browser.screenshot("rules_simulate_enforce")

    # 5. Save: the rule is enforced from the next declaration on
    browser.click_and_wait(browser.css("button#save-rules"))
    assert browser.text(".messages .success")
    with in_org():
        policy = GovernancePolicy.load()
        assert policy.rules[0]["action"] == "enforce"
        blocked = parallel_pair(history, "service4")
        assert blocked.outcome == "blocked"
        assert (blocked.conflicts[0].rule_id, blocked.conflicts[0].action) == (
            "no-parallel-work",
            "enforce",
        )

    # 6. The decision log shows it
    browser.open("/dashboard/decisions/?rule=no-parallel-work&outcome=blocked")
    rows = browser.all("#decisions tbody tr[data-decision]")
    assert [r.get_attribute("data-decision") for r in rows] == [blocked.decision_id]
    browser.screenshot("decisions")


def test_officer_grants_and_revokes_a_waiver(browser, history, in_org):
    browser.login("otto")
    browser.open("/dashboard/waivers/")
    form = browser.css("form#waiver-form")
    browser.css("input[name=agents]", within=form).send_keys("tester")
    browser.css("input[name=artifact_types]", within=form).send_keys("hotfix*")
    browser.css("textarea[name=justification]", within=form).send_keys("incident 42 hotfix")
    ends = (timezone.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    browser.driver.execute_script(
        "arguments[0].value = arguments[1]",
        browser.css("input[name=expires_at]", within=form),
        ends,
    )
    browser.submit(form)
    assert browser.text(".messages .success")
    with in_org():
        waiver = Waiver.objects.get(justification="incident 42 hotfix")
        assert waiver.match == {"agents": ["tester"], "artifact_types": ["hotfix*"]}
        assert parallel_pair(history, "hotfix-login").outcome == "accepted"  # waived
    browser.open("/dashboard/waivers/")
    row = browser.css(f'tr[data-waiver="{waiver.id}"]')
    assert "expiring soon" in row.text
    browser.screenshot("waivers")
    browser.submit(browser.css("form", within=row))
    with in_org():
        waiver.refresh_from_db()
        assert waiver.revoked_by == "user:otto" and waiver.use_count == 1
        # Every committed change of this module (rules, revisions, decisions, waivers) went
        # through the governed path: the change journal has nothing without its audit event.
        assert unaudited_changes() == []
