"""The dashboard in a real browser: the journeys of issue #7, one per role.

Each journey drives headless Chromium through the pages as a person would (log in, click,
fill forms) against a real server, then checks the outcome where it matters: in the page, in
the database, and through the API. Every page visited is saved under docs/screenshots/.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest

from access.actors import SYSTEM, Actor
from artifacts.models import Artifact, Conflict
from artifacts.services import artifact_declare, artifact_transition
from compliance.models import AuditEvent
from governance.models import GovernancePolicy
from governance.resolution import conflict_resolve
from projects.services import project_create

pytestmark = pytest.mark.browser

PLANNER, CODER, TESTER = (Actor("agent", name) for name in ("planner", "coder", "tester"))


@dataclass(frozen=True)
class Scenery:
    payments: str  # project ids
    search: str
    spec: str  # the coder's api-spec in Payments (a draft)
    blocked: str  # the tester's api-spec: blocked by one HIGH parallel_creation conflict with it
    parallel: str  # ... that conflict
    mismatch: str  # a MEDIUM version_mismatch conflict in Payments
    stale: str  # a LOW stale_dependency conflict in Search
    planning: str  # a HIGH parallel_creation conflict in Search (left open for the viewer)


def declare(actor, project, artifact_type, **fields):
    fields.setdefault("data", {"summary": f"{artifact_type} by {actor.name}"})
    return artifact_declare(actor=actor, project=project, artifact_type=artifact_type, **fields)


def activate(artifact):
    return artifact_transition(artifact=artifact, actor=SYSTEM, to="active", reason="reviewed")


def only_conflict(result) -> str:
    assert result.artifact.is_blocked, result
    (conflict,) = result.conflicts
    return conflict.id


@pytest.fixture(scope="module")
def scenery(in_org) -> Scenery:
    """Two projects with active, draft and blocked artifacts and open conflicts of each
    severity band, declared by agents through the services (and committed)."""
    with in_org():
        payments = project_create(
            actor=PLANNER, name="Payments API", description="Card payments and refunds"
        )
        requirements = activate(declare(PLANNER, payments, "requirements").artifact)
        design = activate(
            declare(PLANNER, payments, "design", depends_on=[requirements.id]).artifact
        )
        spec = declare(
            CODER,
            payments,
            "api-spec",
            depends_on=[design.id],
            file_paths=["api/openapi.yaml"],
            requirements={"fastapi": ">=0.110"},
        )
        rival = declare(
            TESTER,
            payments,
            "api-spec",
            depends_on=[design.id],
            file_paths=["api/refunds.yaml"],
            requirements={"pydantic": ">=2"},
        )
        mismatch = declare(CODER, payments, "schema", version=3)  # the next version is 1

        search = project_create(actor=PLANNER, name="Search", description="Catalog search")
        first = activate(declare(CODER, search, "index").artifact)
        activate(declare(CODER, search, "index").artifact)  # archives the first (superseded)
        stale = declare(TESTER, search, "ranking-tests", depends_on=[first.id])
        declare(PLANNER, search, "plan")
        planning = declare(TESTER, search, "plan")
        scenery = Scenery(
            payments=payments.id,
            search=search.id,
            spec=spec.artifact.id,
            blocked=rival.artifact.id,
            parallel=only_conflict(rival),
            mismatch=only_conflict(mismatch),
            stale=only_conflict(stale),
            planning=only_conflict(planning),
        )
        severities = dict(
            Conflict.objects.filter(
                pk__in=[scenery.parallel, scenery.mismatch, scenery.stale, scenery.planning]
            ).values_list("pk", "severity")
        )
    assert [severities[c] for c in (scenery.parallel, scenery.mismatch, scenery.stale)] == [
        "high",
        "medium",
        "low",
    ]
    return scenery


def conflict_rows(browser) -> set[str]:
    return {row.get_attribute("data-conflict-id") for row in browser.all("tr[data-conflict-id]")}


def success_message(browser) -> str:
    return browser.text(".messages .success")


def assert_admin_pages_forbidden(browser) -> None:
    for page in ("policy", "keys", "users"):
        status, _, _ = browser.fetch(f"/dashboard/{page}/")
        assert status == 403, page


# --- 1. compliance officer: resolve a blocked artifact's conflict, then activate it ---------


def test_officer_resolves_a_conflict_and_activates_the_artifact(browser, scenery, in_org):
    browser.open("/dashboard/")
    assert browser.path.startswith("/dashboard/login/"), "the dashboard needs a login"
    browser.login("otto", screenshot=True)

    # Overview
    assert browser.text("#counts").strip()
    browser.css("svg#conflict-chart")
    assert browser.all("#latest-events li, #latest-events tr"), "no latest events listed"
    browser.screenshot("overview")

    # The queue: every open conflict; only LOW/MEDIUM rows can be bulk-selected
    browser.open("/dashboard/conflicts/")
    rows = conflict_rows(browser)
    assert {scenery.parallel, scenery.mismatch, scenery.stale, scenery.planning} <= rows
    for conflict_id, selectable in (
        (scenery.parallel, False),
        (scenery.mismatch, True),
        (scenery.stale, True),
    ):
        row = browser.css(f'tr[data-conflict-id="{conflict_id}"]')
        assert bool(browser.all("input[name=conflict_ids]", within=row)) is selectable, conflict_id
    browser.screenshot("conflicts")

    # Filters narrow the queue
    browser.open(f"/dashboard/conflicts/?project={scenery.payments}&severity=high")
    assert conflict_rows(browser) == {scenery.parallel}
    browser.open("/dashboard/conflicts/?conflict_type=version_mismatch")
    assert conflict_rows(browser) == {scenery.mismatch}
    browser.open("/dashboard/conflicts/?agent=agent:tester")
    assert scenery.parallel in conflict_rows(browser)
    assert scenery.mismatch not in conflict_rows(browser)  # declared by the coder

    # Open the HIGH conflict from the queue and override it with a note
    browser.open("/dashboard/conflicts/")
    row = browser.css(f'tr[data-conflict-id="{scenery.parallel}"]')
    browser.click_and_wait(browser.css("a.conflict-link", within=row))
    assert browser.path == f"/dashboard/conflicts/{scenery.parallel}/"
    page = browser.driver.page_source
    assert scenery.blocked in page and scenery.spec in page, "both artifacts, side by side"
    browser.screenshot("conflict_detail")
    form = browser.css("form#resolve-form")
    select(browser.css("select[name=strategy]", within=form), "override")
    browser.css("textarea[name=note]", within=form).send_keys("Both specs are needed: refunds")
    browser.submit(form)
    assert browser.path.startswith("/dashboard/conflicts/")
    assert success_message(browser)
    assert scenery.parallel not in conflict_rows(browser)
    with in_org():
        conflict = Conflict.objects.get(pk=scenery.parallel)
        assert (conflict.status, conflict.resolution_strategy) == ("resolved", "override")
        assert conflict.resolved_by == "user:otto"
        assert conflict.note == "Both specs are needed: refunds"
        assert not Artifact.objects.get(pk=scenery.blocked).is_blocked

    # An error (the conflict was resolved meanwhile) is shown, not swallowed
    browser.open(f"/dashboard/conflicts/{scenery.mismatch}/")
    form = browser.css("form#resolve-form")
    with in_org():
        conflict_resolve(
            conflict=Conflict.objects.get(pk=scenery.mismatch), actor=SYSTEM, strategy="retry"
        )
    select(browser.css("select[name=strategy]", within=form), "merge")
    browser.submit(form)
    assert browser.text(".messages .error")

    # Bulk: merge the LOW conflict from the queue
    browser.open("/dashboard/conflicts/")
    browser.css("#bulk-form button[name=bulk_strategy][value=override]")
    row = browser.css(f'tr[data-conflict-id="{scenery.stale}"]')
    browser.css("input[name=conflict_ids]", within=row).click()
    browser.click_and_wait(browser.css("#bulk-form button[name=bulk_strategy][value=merge]"))
    assert success_message(browser)
    assert scenery.stale not in conflict_rows(browser)
    with in_org():
        assert Conflict.objects.get(pk=scenery.stale).resolution_strategy == "merge"

    # The project page: the artifact is a draft that can now be activated
    browser.open("/dashboard/projects/")
    browser.css(f'tr[data-project-id="{scenery.payments}"]')
    browser.screenshot("projects")
    browser.open(f"/dashboard/projects/{scenery.payments}/")
    browser.css("#blocking-report")
    browser.css("svg#dependency-graph")
    row = browser.css(f'tr[data-artifact-id="{scenery.blocked}"]')
    browser.css(".badge-draft", within=row)
    browser.submit(browser.css('form.transition-form[data-to="active"]', within=row))
    row = browser.css(f'tr[data-artifact-id="{scenery.blocked}"]')
    browser.css(".badge-active", within=row)
    browser.screenshot("project")
    with in_org():
        assert Artifact.objects.get(pk=scenery.blocked).state == "active"
    assert_admin_pages_forbidden(browser)


def select(element, value: str) -> None:
    from selenium.webdriver.support.select import Select

    Select(element).select_by_value(value)


def selected(element) -> str:
    from selenium.webdriver.support.select import Select

    return Select(element).first_selected_option.get_attribute("value")


# --- 2. auditor: filter the trail, download the CSV, verify the chain ----------------------


def test_auditor_filters_the_trail_and_downloads_csv(browser, scenery, in_org):
    with in_org():
        other_events = AuditEvent.objects.exclude(event_type__startswith="artifact.").count()
    assert other_events, "the filter must have something to leave out"
    browser.login("aud")

    browser.open("/dashboard/audit/")
    unfiltered = {row.get_attribute("data-seq") for row in browser.all("tr[data-seq]")}
    assert unfiltered
    field = browser.css("[name=event_type]")
    field.clear()
    field.send_keys("artifact.*")
    browser.submit(browser.driver.execute_script("return arguments[0].form", field))
    assert parse_qs(urlsplit(browser.driver.current_url).query)["event_type"] == ["artifact.*"]
    shown = [row.get_attribute("data-seq") for row in browser.all("tr[data-seq]")]
    assert shown
    assert set(shown) != unfiltered
    browser.screenshot("audit")

    # The download links carry the filter; the CSV holds exactly the filtered events
    formats = ("csv", "json", "jsonl")
    hrefs = {fmt: browser.css(f"a#export-{fmt}").get_attribute("href") for fmt in formats}
    for fmt, href in hrefs.items():
        parts = urlsplit(href)
        assert parts.path.rstrip("/") == "/api/v1/governance/compliance/export", href
        query = parse_qs(parts.query)
        assert query["format"] == [fmt], href
        assert query["event_type"] == ["artifact.*"], href
    status, headers, body = browser.fetch(hrefs["csv"])
    assert status == 200, body[:500]
    assert headers["Content-Type"].startswith("text/csv")
    text = body.decode()
    assert text.startswith("timestamp,event_type,organization")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows
    assert all(row["event_type"].startswith("artifact.") for row in rows)
    assert all(row["organization"] == "browser" for row in rows)
    assert set(shown) <= {row["seq"] for row in rows}
    with in_org():
        expected = AuditEvent.objects.filter(
            event_type__startswith="artifact.", seq__lte=max(int(row["seq"]) for row in rows)
        ).count()
    assert len(rows) == expected

    # Verify the chain
    browser.click_and_wait(browser.css("button#verify-chain"))
    assert "intact" in browser.text("#verify-result").lower()

    # An auditor reads conflicts but cannot resolve them
    browser.open(f"/dashboard/conflicts/{scenery.planning}/")
    assert not browser.exists("#resolve-form")
    assert_admin_pages_forbidden(browser)


# --- 3. org admin: routing policy, agent keys, users -----------------------------------------


def test_admin_switches_routing_policy_and_manages_keys(browser, scenery, in_org):
    browser.login("ada")

    # Policy
    browser.open("/dashboard/policy/")
    form = browser.css("form#policy-form")
    browser.css("select[name=mode]", within=form)
    browser.css("input[type=checkbox][name=auto_archive_superseded]", within=form)
    routing = browser.css("select[name=routing_policy]", within=form)
    before = selected(routing)
    target = next(
        value
        for value in ("compliance_local_only", "enterprise_residency", "default_local_first")
        if value != before
    )
    select(routing, target)
    browser.submit(form)
    assert success_message(browser)
    assert selected(browser.css("form#policy-form select[name=routing_policy]")) == target
    browser.screenshot("policy")
    # Providers (and their availability) live on their own page now
    assert browser.exists("#providers-link a[href='/dashboard/providers/']")
    assert not browser.exists("form.provider-toggle")
    policy = browser.fetch_json("/api/v1/governance/policy")
    assert policy["routing_policy"] == target
    assert policy["updated_by"] == "user:ada"
    with in_org():
        assert GovernancePolicy.load().routing_policy == target
        change = AuditEvent.objects.filter(event_type="policy.changed").latest("seq")
        assert change.actor == "user:ada"

    # Agent keys: create one, use it, revoke it
    browser.open("/dashboard/keys/")
    form = browser.css("form#create-key-form")
    browser.css("input[type=checkbox][name=privileged]", within=form)
    browser.css("[name=expires_in_days]", within=form)
    browser.css("[name=agent]", within=form).send_keys("release-bot")
    browser.submit(form)
    key = browser.text("code#new-key").strip()
    assert key.startswith("mq_"), key
    browser.css("button#copy-key")
    browser.screenshot("keys")
    bearer = {"Authorization": f"Bearer {key}"}
    status, _, body = browser.site.request("GET", "/api/v1/projects", headers=bearer)
    assert status == 200, body[:300]
    row = browser.css(f'tr[data-key-prefix="{key[:12]}"]')
    assert browser.css(".key-status", within=row).text.strip().lower() == "active"
    browser.submit(browser.css("form.revoke-form", within=row))
    row = browser.css(f'tr[data-key-prefix="{key[:12]}"]')
    assert browser.css(".key-status", within=row).text.strip().lower() == "revoked"
    assert not browser.exists("code#new-key"), "the key is shown once only"
    status, _, _ = browser.site.request("GET", "/api/v1/projects", headers=bearer)
    assert status == 401

    # Users: create an auditor
    browser.open("/dashboard/users/")
    form = browser.css("form#create-user-form")
    roles = {box.get_attribute("value") for box in browser.all("input[name=roles]", within=form)}
    assert roles == {"org_admin", "compliance_officer", "auditor", "viewer"}
    browser.css("[name=username]", within=form).send_keys("nina")
    browser.css("[name=password]", within=form).send_keys("Nina-Audits-2024!")
    browser.css("input[name=roles][value=auditor]", within=form).click()
    browser.submit(form)
    browser.css('tr[data-username="nina"]')
    browser.screenshot("users")
    with in_org():
        from django.contrib.auth import get_user_model

        nina = get_user_model().objects.get(username="nina")
        assert list(nina.groups.values_list("name", flat=True)) == ["auditor"]


# --- 4. viewer: reads, never resolves, no admin pages ----------------------------------------


def test_viewer_cannot_resolve_or_administer(browser, scenery):
    browser.login("vic")
    browser.open(f"/dashboard/conflicts/{scenery.planning}/")
    assert scenery.planning in browser.driver.page_source
    assert not browser.exists("#resolve-form")
    browser.open("/dashboard/policy/")
    assert not browser.exists("form#policy-form")
    assert_admin_pages_forbidden(browser)
    status, _, _ = browser.fetch(f"/dashboard/conflicts/{scenery.planning}/")
    assert status == 200

    # Log out: the session is gone
    browser.open("/dashboard/")
    browser.submit(browser.css("#logout-form"))
    browser.open("/dashboard/")
    assert browser.path.startswith("/dashboard/login/")
