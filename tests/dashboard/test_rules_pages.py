"""Rules, Waivers and Decision log pages: who sees and edits what, the draft → simulate → save
flow through policy_update (audited), waivers through their services, query counts."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from access.actors import Actor
from access.roles import AUDITOR, COMPLIANCE_OFFICER, ORG_ADMIN, VIEWER
from artifacts.services import artifact_declare
from compliance.models import AuditEvent
from governance.models import GovernancePolicy, Waiver
from projects.services import project_create
from tests.conftest import make_user
from tests.governance.conftest import rule, set_policy

CODER, TESTER = Actor("agent", "coder"), Actor("agent", "tester")


def login(org, username: str, role: str) -> Client:
    client = Client(HTTP_HOST="alpha.localhost")
    client.force_login(make_user(org, username, role))
    return client


@pytest.fixture
def history(org_a):
    """Five lines declared twice by two agents: five HIGH parallel_creation conflicts."""
    project = project_create(actor=CODER, name="Checkout")
    for index in range(5):
        artifact_declare(actor=CODER, project=project, artifact_type=f"line{index}", data={})
        artifact_declare(actor=TESTER, project=project, artifact_type=f"line{index}", data={})
    return project


@pytest.mark.parametrize(
    ("role", "rules", "waivers", "decisions"),
    [
        (ORG_ADMIN, 200, 200, 200),
        (COMPLIANCE_OFFICER, 200, 200, 200),
        (AUDITOR, 403, 200, 200),
        (VIEWER, 403, 200, 200),
    ],
)
def test_who_sees_the_pages(org_a, history, role, rules, waivers, decisions):
    client = login(org_a, f"u-{role}", role)
    assert client.get("/dashboard/rules/").status_code == rules
    assert client.get("/dashboard/waivers/").status_code == waivers
    assert client.get("/dashboard/decisions/").status_code == decisions


def test_draft_simulate_save(org_a, history):
    admin = login(org_a, "adam", ORG_ADMIN)
    add = {
        "op": "add",
        "id": "no-parallel",
        "action": "dryrun",
        "description": "parallel work",
        "conflict_types": "parallel_creation",
        "min_severity": "high",
    }
    assert admin.post("/dashboard/rules/", add).status_code == 302
    assert GovernancePolicy.load().rules == []  # a draft, not in force
    page = admin.get("/dashboard/rules/").content.decode()
    assert "Unsaved draft" in page and "no-parallel" in page

    simulated = admin.post("/dashboard/rules/", {"op": "simulate", "last": "1000"})
    body = simulated.content.decode()
    assert simulated.status_code == 200
    assert "would have blocked <strong>0</strong> of the last 10 declarations" in body
    assert "<strong>5</strong> newly allowed" in body
    assert AuditEvent.objects.filter(event_type="policy.changed").count() == 0

    assert admin.post("/dashboard/rules/", {"op": "save"}).status_code == 302
    policy = GovernancePolicy.load()
    assert [(r["id"], r["action"], r["author"]) for r in policy.rules] == [
        ("no-parallel", "dryrun", "user:adam")
    ]
    assert policy.rules[0]["match"] == {
        "conflict_types": ["parallel_creation"],
        "min_severity": "high",
    }
    event = AuditEvent.objects.get(event_type="policy.changed")
    assert event.actor == "user:adam"

    admin.post("/dashboard/rules/", {"op": "action", "rule": "no-parallel", "action": "enforce"})
    assert GovernancePolicy.load().rules[0]["action"] == "dryrun"
    body = admin.post("/dashboard/rules/", {"op": "simulate", "last": "100"}).content.decode()
    assert "would have blocked <strong>5</strong> of the last 10" in body
    admin.post("/dashboard/rules/", {"op": "save"})
    assert GovernancePolicy.load().rules[0]["action"] == "enforce"


def test_reorder_remove_discard_and_restore(org_a):
    set_policy(rules=[rule("a", "warn"), rule("b", "dryrun")])
    admin = login(org_a, "adam", ORG_ADMIN)
    admin.post("/dashboard/rules/", {"op": "down", "rule": "a"})
    admin.post("/dashboard/rules/", {"op": "save"})
    assert [r["id"] for r in GovernancePolicy.load().rules] == ["b", "a"]
    admin.post("/dashboard/rules/", {"op": "delete", "rule": "b"})
    admin.post("/dashboard/rules/", {"op": "discard"})
    assert "Unsaved draft" not in admin.get("/dashboard/rules/").content.decode()
    admin.post("/dashboard/rules/", {"op": "restore", "revision": "2"})
    policy = GovernancePolicy.load()
    assert [r["id"] for r in policy.rules] == ["a", "b"] and policy.revision == 4


def test_bad_rule_and_officer_edits_are_refused(org_a):
    admin = login(org_a, "adam", ORG_ADMIN)
    response = admin.post("/dashboard/rules/", {"op": "add", "id": "Bad Id!", "action": "warn"})
    assert response.status_code == 400
    set_policy(rules=[rule("a", "warn")])
    duplicate = admin.post("/dashboard/rules/", {"op": "add", "id": "a", "action": "warn"})
    assert duplicate.status_code == 400 and "Duplicate" in duplicate.content.decode()
    officer = login(org_a, "olivia", COMPLIANCE_OFFICER)
    assert officer.post("/dashboard/rules/", {"op": "save"}).status_code == 403
    assert officer.post("/dashboard/rules/", {"op": "simulate"}).status_code == 200


def test_waivers_page_grants_and_revokes(org_a, history):
    officer = login(org_a, "olivia", COMPLIANCE_OFFICER)
    expires = (timezone.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    form = {"agents": "tester", "justification": "pilot week", "expires_at": expires}
    assert officer.post("/dashboard/waivers/", form).status_code == 302
    waiver = Waiver.objects.get()
    assert (waiver.match, waiver.created_by) == ({"agents": ["tester"]}, "user:olivia")
    page = officer.get("/dashboard/waivers/").content.decode()
    assert waiver.id in page and "expiring soon" in page
    too_far = {
        **form,
        "expires_at": (timezone.now() + timedelta(days=90)).strftime("%Y-%m-%dT%H:%M"),
    }
    refused = officer.post("/dashboard/waivers/", too_far)
    assert refused.status_code == 400 and "max_waiver_days" in refused.content.decode()
    assert officer.post("/dashboard/waivers/", {**form, "agents": ""}).status_code == 400
    odd = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S+20:00")
    assert officer.post("/dashboard/waivers/", {**form, "expires_at": odd}).status_code in (
        302,
        400,
    )
    assert officer.post("/dashboard/waivers/", {"revoke": waiver.id}).status_code == 302
    waiver.refresh_from_db()
    assert waiver.revoked_by == "user:olivia"
    viewer = login(org_a, "vera", VIEWER)
    assert viewer.post("/dashboard/waivers/", form).status_code == 403


def test_decision_log_filters(org_a, history):
    set_policy(rules=[rule("watch", "dryrun")])
    artifact_declare(actor=TESTER, project=history, artifact_type="line0", data={})
    client = login(org_a, "vera", VIEWER)
    page = client.get("/dashboard/decisions/?rule=watch").content.decode()
    assert page.count('data-decision="') == 1
    assert (
        client.get("/dashboard/decisions/?outcome=blocked")
        .content.decode()
        .count('data-decision="')
        == 5
    )
    assert client.get("/dashboard/decisions/?since=garbage&outcome=nope").status_code == 200
    for since in ("2026-13-01T00:00", "2020-01-01T00:00:00+23:59", "2020-01-01T00:00:00-23:00"):
        assert client.get("/dashboard/decisions/", {"since": since}).status_code == 200
    assert client.get(f"/dashboard/decisions/?project={history.id}").status_code == 200


def test_query_counts_do_not_grow(org_a, history, django_assert_max_num_queries):
    set_policy(rules=[rule(f"r{index}", "dryrun", agents=[f"a{index}"]) for index in range(20)])
    admin = login(org_a, "adam", ORG_ADMIN)
    for path in ("/dashboard/rules/", "/dashboard/waivers/", "/dashboard/decisions/"):
        with django_assert_max_num_queries(20):
            assert admin.get(path).status_code == 200


def test_a_draft_does_not_overwrite_a_revision_saved_meanwhile(org_a):
    set_policy(rules=[rule("a", "warn")])
    admin = login(org_a, "adam", ORG_ADMIN)
    admin.post("/dashboard/rules/", {"op": "action", "rule": "a", "action": "enforce"})
    set_policy(rules=[rule("a", "warn"), rule("b", "dryrun")])  # another admin saves
    response = admin.post("/dashboard/rules/", {"op": "save"}, follow=True)
    assert "not 2: reload it" in response.content.decode()
    assert [(r["id"], r["action"]) for r in GovernancePolicy.load().rules] == [
        ("a", "warn"),
        ("b", "dryrun"),
    ]


def test_policy_page_links_rules_and_sets_max_waiver_days(org_a):
    admin = login(org_a, "adam", ORG_ADMIN)
    page = admin.get("/dashboard/policy/").content.decode()
    assert 'href="/dashboard/rules/"' in page and 'name="max_waiver_days"' in page
    form = {"mode": "strict", "routing_policy": "default_local_first", "max_waiver_days": "7"}
    assert admin.post("/dashboard/policy/", form).status_code == 302
    assert GovernancePolicy.load().max_waiver_days == 7
    without = {"mode": "adaptive", "routing_policy": "default_local_first"}
    assert admin.post("/dashboard/policy/", without).status_code == 302
    policy = GovernancePolicy.load()
    assert (policy.mode, policy.max_waiver_days) == ("adaptive", 7)
    assert admin.post("/dashboard/policy/", {**form, "max_waiver_days": "0"}).status_code == 400


def test_policy_page_sets_the_audit_retention_window(org_a):
    """Empty keeps the trail forever; a number of days is the window retention applies;
    each change is a policy.changed event; 0 is a 400 on the field and changes nothing."""
    admin = login(org_a, "adam", ORG_ADMIN)
    form = {
        "mode": "strict",
        "routing_policy": "default_local_first",
        "max_waiver_days": "30",
        "auto_archive_superseded": "on",
    }
    assert 'name="audit_retention_days"' in admin.get("/dashboard/policy/").content.decode()
    assert (
        admin.post("/dashboard/policy/", {**form, "audit_retention_days": "90"}).status_code == 302
    )
    assert GovernancePolicy.load().audit_retention_days == 90
    page = admin.get("/dashboard/policy/").content.decode()
    assert 'name="audit_retention_days" value="90"' in page
    changed = AuditEvent.objects.filter(event_type="policy.changed").order_by("-seq").first()
    assert changed.payload["after"] == {"audit_retention_days": 90}
    refused = admin.post("/dashboard/policy/", {**form, "audit_retention_days": "0"})
    assert refused.status_code == 400 and "audit_retention_days" in refused.content.decode()
    assert GovernancePolicy.load().audit_retention_days == 90
    assert admin.post("/dashboard/policy/", {**form, "audit_retention_days": ""}).status_code == 302
    assert GovernancePolicy.load().audit_retention_days is None


def test_simulate_another_mode(org_a, history):
    officer = login(org_a, "olivia", COMPLIANCE_OFFICER)
    body = officer.post(
        "/dashboard/rules/", {"op": "simulate", "last": "100", "mode": "playground"}
    ).content.decode()
    assert "with mode playground" in body
    assert "would have blocked <strong>0</strong> of the last 10 declarations" in body
    assert "<strong>5</strong> newly allowed" in body
    assert GovernancePolicy.load().mode == "strict"
    same = officer.post("/dashboard/rules/", {"op": "simulate", "mode": "bogus"})
    assert "would have blocked <strong>5</strong>" in same.content.decode()
