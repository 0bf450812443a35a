"""Dashboard pages for every policy: providers, webhooks and specialists (skills, hierarchy
policy, specialists, training jobs). Each page obeys the API's role rules, and its writes go
through the services with exactly their audit events."""

from __future__ import annotations

import pytest
from django.test import Client

from access.actors import SYSTEM, Actor
from access.roles import AUDITOR, COMPLIANCE_OFFICER, ORG_ADMIN, VIEWER
from artifacts.services import artifact_declare
from compliance.models import AuditEvent
from events.models import Webhook, WebhookDelivery
from governance.models import Provider
from hmcp.models import HierarchyPolicy, Skill, Specialist
from hmcp.registry import skill_create
from projects.services import project_create
from tests.conftest import client_for, make_agent_key, make_user
from tests.hmcp.conftest import propose

HOOK_URL = "https://hooks.example.com/metaqore"


def login(org, username: str, role: str) -> Client:
    client = Client(HTTP_HOST="alpha.localhost")
    client.force_login(make_user(org, username, role))
    return client


def last_seq() -> int:
    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def events_after(seq: int) -> list[tuple[str, str]]:
    return list(
        AuditEvent.objects.filter(seq__gt=seq).order_by("seq").values_list("event_type", "actor")
    )


@pytest.fixture
def specialist(org_a) -> Specialist:
    skill_create(
        actor=SYSTEM,
        skill_id="data-cleaning",
        parent_agent="data-agent",
        max_specialist_size_mb=500,
        allowed_teachers=["gpt-4o"],
    )
    project = project_create(actor=Actor("agent", "data-agent"), name="Pipelines")
    agent = client_for(org_a, key=make_agent_key(org_a, "data-agent"))
    response = propose(agent, project)
    assert response.status_code == 201, response.json()
    return Specialist.objects.get(pk=response.json()["id"])


READ_PAGES = ["/dashboard/providers/", "/dashboard/specialists/", "/dashboard/specialists/policy/"]


@pytest.mark.parametrize("role", [VIEWER, AUDITOR, COMPLIANCE_OFFICER, ORG_ADMIN])
def test_every_role_reads_providers_and_specialists_only_admins_see_webhooks(
    org_a, specialist, role
):
    client = login(org_a, f"u_{role}", role)
    for page in [*READ_PAGES, f"/dashboard/specialists/{specialist.id}/"]:
        response = client.get(page)
        assert response.status_code == 200, (role, page)
    assert b"data-cleaning" in client.get("/dashboard/specialists/").content
    expected = 200 if role == ORG_ADMIN else 403
    assert client.get("/dashboard/webhooks/").status_code == expected
    nav = client.get("/dashboard/").content
    assert b'href="/dashboard/specialists/"' in nav and b'href="/dashboard/providers/"' in nav
    assert (b'href="/dashboard/webhooks/"' in nav) is (role == ORG_ADMIN)


def test_an_org_admin_adds_edits_and_toggles_a_provider(org_a):
    client = login(org_a, "ada", ORG_ADMIN)
    start = last_seq()
    form = {"name": "vllm-east", "kind": "local", "latency_ms": "40", "priority": "20"}
    response = client.post("/dashboard/providers/", {**form, "capacity_score": "0.5"})
    assert response.status_code == 302, response.content[:2000]
    response = client.post(
        "/dashboard/providers/vllm-east/",
        {"available": "on", "latency_ms": "55", "capacity_score": "0.5", "priority": "20"},
    )
    assert response.status_code == 302
    assert Provider.objects.get(name="vllm-east").latency_ms == 55
    client.post("/dashboard/providers/", {"toggle": "vllm-east"})
    assert Provider.objects.get(name="vllm-east").available is False
    assert events_after(start) == [
        ("provider.created", "user:ada"),
        ("provider.updated", "user:ada"),
        ("provider.updated", "user:ada"),
    ]
    page = client.get("/dashboard/providers/").content.decode()
    assert "vllm-east" in page and "55 ms" in page


def test_provider_form_errors_are_400_with_the_field_named(org_a):
    client = login(org_a, "ada", ORG_ADMIN)
    response = client.post(
        "/dashboard/providers/",
        {"name": "bad name!", "kind": "moon", "latency_ms": "-1", "capacity_score": "2"},
    )
    assert response.status_code == 400
    assert not Provider.objects.filter(name="bad name!").exists()
    assert b"errorlist" in response.content


def test_officers_cannot_write_providers_or_skills_or_the_hierarchy_policy(org_a):
    client = login(org_a, "otto", COMPLIANCE_OFFICER)
    start = last_seq()
    for page, body in [
        ("/dashboard/providers/", {"name": "x", "kind": "local"}),
        ("/dashboard/specialists/", {"skill_id": "x", "max_specialist_size_mb": "1"}),
        ("/dashboard/specialists/policy/", {"chaining_depth": "3"}),
    ]:
        assert client.post(page, body).status_code == 403, page
    assert events_after(start) == []
    assert b'id="skill-form"' not in client.get("/dashboard/specialists/").content


def test_an_org_admin_creates_a_webhook_sends_a_test_event_and_pauses_it(org_a):
    client = login(org_a, "ada", ORG_ADMIN)
    start = last_seq()
    response = client.post(
        "/dashboard/webhooks/",
        {"url": HOOK_URL, "event_types": "conflict.*\nartifact.declared", "description": "ops"},
    )
    assert response.status_code == 302, response.content[:2000]
    webhook = Webhook.objects.get(url=HOOK_URL)
    assert webhook.event_types == ["conflict.*", "artifact.declared"]
    page = client.get("/dashboard/webhooks/").content.decode()
    assert webhook.secret in page  # shown once, right after creation
    assert webhook.secret not in client.get("/dashboard/webhooks/").content.decode()

    detail = f"/dashboard/webhooks/{webhook.id}/"
    assert client.post(detail, {"test": "1"}).status_code == 302
    delivery = WebhookDelivery.objects.get(webhook=webhook)
    assert (delivery.event_type, delivery.status) == ("webhook.test", "pending")
    page = client.get(detail).content.decode()
    assert f'data-delivery="{delivery.id}"' in page and "webhook.test" in page

    assert client.post(detail, {"pause": "1"}).status_code == 302
    assert Webhook.objects.get(pk=webhook.pk).active is False
    client.post(detail, {"test": "1"})  # a paused webhook sends nothing
    assert WebhookDelivery.objects.filter(webhook=webhook).count() == 1
    assert events_after(start) == [
        ("webhook.created", "user:ada"),
        ("webhook.test", "user:ada"),
        ("webhook.updated", "user:ada"),
    ]


def test_a_webhook_to_a_private_address_is_refused_on_its_field(org_a):
    client = login(org_a, "ada", ORG_ADMIN)
    response = client.post("/dashboard/webhooks/", {"url": "http://169.254.169.254/latest"})
    assert response.status_code == 400
    assert not Webhook.objects.exists()
    assert b"errorlist" in response.content


def test_an_org_admin_edits_a_skill_and_the_hierarchy_policy(org_a, specialist):
    client = login(org_a, "ada", ORG_ADMIN)
    start = last_seq()
    response = client.post(
        "/dashboard/specialists/skills/data-cleaning/",
        {
            "description": "Cleaning tabular data",
            "parent_agent": "data-agent",
            "max_specialist_size_mb": "600",
            "allowed_teachers": "gpt-4o, llama-3-70b",
            "task_patterns": "",
        },
    )
    assert response.status_code == 302, response.content[:3000]
    skill = Skill.objects.get(skill_id="data-cleaning")
    assert (skill.max_specialist_size_mb, skill.allowed_teachers) == (
        600,
        ["gpt-4o", "llama-3-70b"],
    )
    form = client.get("/dashboard/specialists/policy/").context["form"]
    body = {name: form[name].value() for name in form.fields}
    body = {k: v for k, v in body.items() if v is not False}  # unchecked boxes are not sent
    body["levels"] = form["levels"].value()
    body["drift_max_drop"] = "0.07"
    response = client.post("/dashboard/specialists/policy/", body)
    assert response.status_code == 302, response.content[:3000]
    assert HierarchyPolicy.load().drift_max_drop == 0.07
    assert events_after(start) == [
        ("skill.updated", "user:ada"),
        ("hierarchy_policy.changed", "user:ada"),
    ]


def test_an_officer_blocks_a_specialist_from_its_page(org_a, specialist):
    client = login(org_a, "otto", COMPLIANCE_OFFICER)
    page = client.get(f"/dashboard/specialists/{specialist.id}/").content.decode()
    assert 'id="lifecycle-history"' in page and "psmp_validating" in page
    response = client.post(
        f"/dashboard/specialists/{specialist.id}/", {"to": "blocked", "reason": "bad data"}
    )
    assert response.status_code == 302
    assert Specialist.objects.get(pk=specialist.pk).lifecycle == "blocked"
    viewer = login(org_a, "vic", VIEWER)
    assert (
        b"specialist-move-form"
        not in viewer.get(f"/dashboard/specialists/{specialist.id}/").content
    )
    response = viewer.post(f"/dashboard/specialists/{specialist.id}/", {"to": "blocked"})
    assert response.status_code == 403


def test_the_overview_shows_what_blocks_by_project_and_links_the_org_report(org_a):
    coder, tester = Actor("agent", "coder"), Actor("agent", "tester")
    project = project_create(actor=coder, name="Checkout")
    artifact_declare(actor=coder, project=project, artifact_type="code", data={})
    artifact_declare(actor=tester, project=project, artifact_type="code", data={})
    client = login(org_a, "vic", VIEWER)
    page = client.get("/dashboard/").content.decode()
    assert f'data-project="{project.id}"' in page and "1 blocked" in page
    assert 'href="/api/v1/governance/blocking-report"' in page
    report = client.get("/api/v1/governance/blocking-report")  # the session works there too
    assert report.status_code == 200
    assert report.json()["by_project"][0]["project_id"] == project.id
