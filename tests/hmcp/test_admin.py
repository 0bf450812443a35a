"""The admin is just another client: skills and the hierarchy policy go through the registry
services, specialists move only through actions that call the lifecycle services."""

from __future__ import annotations

import json

import pytest
from django.contrib.admin.utils import quote as admin_quote
from django.contrib.auth import get_user_model
from django.test import Client

from access.roles import VIEWER
from hmcp.models import HierarchyPolicy, Skill, Specialist
from hmcp.registry import POLICY_FIELDS
from tests.conftest import make_user
from tests.hmcp.conftest import events_after, last_seq, propose


@pytest.fixture
def admin_site(org_a):
    user = get_user_model().objects.create_superuser("root", "", "pw-Secret-123")
    client = Client(HTTP_HOST="alpha.localhost")
    client.force_login(user)
    return client


def skill_form(**overrides) -> dict:
    form = {
        "skill_id": "report-writing",
        "description": "",
        "parent_agent": "writer",
        "max_specialist_size_mb": "80",
        "allowed_teachers": json.dumps(["gpt-4o"]),
        "task_patterns": json.dumps([]),
    }
    form.update(overrides)
    return form


def test_admin_creates_and_edits_skills_through_the_service(admin_site):
    start = last_seq()
    response = admin_site.post("/admin/hmcp/skill/add/", skill_form())
    assert response.status_code == 302, response.content[:3000]
    skill = Skill.objects.get(skill_id="report-writing")
    assert skill.created_by == "user:root"
    response = admin_site.post(
        f"/admin/hmcp/skill/{admin_quote(skill.pk)}/change/",
        skill_form(max_specialist_size_mb="90"),
    )
    assert response.status_code == 302
    assert Skill.objects.get(pk=skill.pk).max_specialist_size_mb == 90
    response = admin_site.post(
        f"/admin/hmcp/skill/{admin_quote(skill.pk)}/delete/", {"post": "yes"}
    )
    assert response.status_code == 302
    assert events_after(start) == [
        ("skill.created", "user:root"),
        ("skill.updated", "user:root"),
        ("skill.deleted", "user:root"),
    ]


def test_admin_shows_model_validation_as_form_errors(admin_site):
    response = admin_site.post(
        "/admin/hmcp/skill/add/", skill_form(allowed_teachers=json.dumps("gpt-4o"))
    )
    assert response.status_code == 200
    assert b"Expected a list of non-empty strings." in response.content


def test_admin_rights_follow_the_role_matrix(org_a, skill):
    user = make_user(org_a, "staffer", VIEWER)
    user.is_staff = True
    user.save()
    client = Client(HTTP_HOST="alpha.localhost")
    client.force_login(user)
    assert client.post("/admin/hmcp/skill/add/", skill_form()).status_code == 403


def test_admin_edits_the_hierarchy_policy_through_the_service(admin_site):
    policy = HierarchyPolicy.load()
    form = {name: getattr(policy, name) for name in POLICY_FIELDS}
    form["levels"] = json.dumps(policy.levels)
    for name, value in form.items():
        if isinstance(value, bool):
            form[name] = "on" if value else ""
    form = {name: value for name, value in form.items() if value != ""}
    form["spawn_min_confidence"] = "0.9"
    start = last_seq()
    response = admin_site.post("/admin/hmcp/hierarchypolicy/1/change/", form)
    assert response.status_code == 302, response.content[:3000]
    policy = HierarchyPolicy.load()
    assert (policy.spawn_min_confidence, policy.revision, policy.updated_by) == (
        0.9,
        2,
        "user:root",
    )
    assert events_after(start) == [("hierarchy_policy.changed", "user:root")]


def test_admin_blocks_specialists_with_an_action(admin_site, agent, project, skill):
    specialist = propose(agent, project).json()
    start = last_seq()
    response = admin_site.post(
        "/admin/hmcp/specialist/",
        {"action": "blocked_selected", "_selected_action": [specialist["id"]]},
    )
    assert response.status_code == 302
    row = Specialist.objects.get(pk=specialist["id"])
    assert row.lifecycle == "blocked"
    assert row.lifecycle_history[-1]["reason"] == "blocked in the admin by root"
    assert events_after(start)[0] == ("specialist.blocked", "user:root")


def test_admin_pages_render(admin_site, agent, project, skill):
    specialist = propose(agent, project).json()
    for url in (
        "/admin/hmcp/skill/",
        "/admin/hmcp/specialist/",
        f"/admin/hmcp/specialist/{admin_quote(specialist['id'])}/change/",
        "/admin/hmcp/trainingjob/",
        f"/admin/hmcp/trainingjob/{admin_quote(specialist['training_job']['id'])}/change/",
        "/admin/hmcp/hierarchypolicy/1/change/",
    ):
        assert admin_site.get(url).status_code == 200, url
