"""The org's Django admin for every role: the role groups carry the model permissions of the
API's role table, and what each role does in the admin goes through the services (audited)."""

from __future__ import annotations

import io

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client

from access.actors import Actor
from access.role_permissions import ROLE_MODEL_PERMISSIONS, role_permissions_after_migrate
from access.roles import AUDITOR, COMPLIANCE_OFFICER, ORG_ADMIN, ROLES, VIEWER
from artifacts.models import Artifact, Conflict
from compliance.models import AuditEvent
from governance.models import Provider
from projects.services import project_create
from tests.artifacts.conftest import declare
from tests.conftest import client_for, make_agent_key

NO_RIGHTS = b"have permission to view or edit anything"


def staff_client(username: str, role: str) -> Client:
    user = get_user_model().objects.create_user(username, "", "pw-Secret-123", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client = Client(HTTP_HOST="alpha.localhost")
    client.force_login(user)
    return client


def last_seq() -> int:
    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def events_after(seq: int) -> list[tuple[str, str]]:
    return list(
        AuditEvent.objects.filter(seq__gt=seq).order_by("seq").values_list("event_type", "actor")
    )


@pytest.fixture
def blocked(org_a) -> Conflict:
    """A conflict between two agents' declarations (the second one is blocked)."""
    coder = client_for(org_a, key=make_agent_key(org_a, "coder"))
    tester = client_for(org_a, key=make_agent_key(org_a, "tester"))
    project = project_create(actor=Actor(kind="agent", name="coder"), name="Payments")
    declare(coder, project)
    artifact = Artifact.objects.get(pk=declare(tester, project).json()["id"])
    return artifact.conflicts.get()


# Which admin pages each role may open (200) and which it may not (403).
PAGES = {
    "/admin/artifacts/artifact/": {VIEWER, AUDITOR, COMPLIANCE_OFFICER, ORG_ADMIN},
    "/admin/artifacts/conflict/": {VIEWER, AUDITOR, COMPLIANCE_OFFICER, ORG_ADMIN},
    "/admin/hmcp/skill/": {VIEWER, AUDITOR, COMPLIANCE_OFFICER, ORG_ADMIN},
    "/admin/governance/provider/": {VIEWER, AUDITOR, COMPLIANCE_OFFICER, ORG_ADMIN},
    "/admin/compliance/auditevent/": {AUDITOR, COMPLIANCE_OFFICER, ORG_ADMIN},
    "/admin/projects/project/add/": {COMPLIANCE_OFFICER, ORG_ADMIN},
    "/admin/governance/provider/add/": {ORG_ADMIN},
    "/admin/hmcp/skill/add/": {ORG_ADMIN},
    "/admin/events/webhook/": {ORG_ADMIN},
    "/admin/events/webhookdelivery/": {ORG_ADMIN},
    "/admin/access/agentkey/": {ORG_ADMIN},
    "/admin/auth/user/": {ORG_ADMIN},
}


@pytest.mark.parametrize("role", ROLES)
def test_every_role_uses_the_admin_with_the_rights_of_its_role(org_a, role):
    client = staff_client(f"u_{role}", role)
    index = client.get("/admin/")
    assert index.status_code == 200
    assert NO_RIGHTS not in index.content
    for page, roles in PAGES.items():
        expected = 200 if role in roles else 403
        assert client.get(page).status_code == expected, (role, page)


def test_a_viewer_sees_no_actions_and_cannot_resolve(org_a, blocked):
    client = staff_client("vic", VIEWER)
    page = client.get("/admin/artifacts/conflict/")
    assert b"resolve_override" not in page.content
    response = client.post(
        "/admin/artifacts/conflict/",
        {"action": "resolve_override", "_selected_action": [blocked.pk]},
    )
    assert response.status_code in (200, 302)
    assert Conflict.objects.get(pk=blocked.pk).status == "open"


def test_an_officer_resolves_and_escalates_from_the_admin_through_the_service(org_a, blocked):
    client = staff_client("otto", COMPLIANCE_OFFICER)
    start = last_seq()
    response = client.post(
        "/admin/artifacts/conflict/",
        {"action": "resolve_escalate", "_selected_action": [blocked.pk]},
    )
    assert response.status_code == 302
    assert Conflict.objects.get(pk=blocked.pk).status == "escalated"
    response = client.post(
        "/admin/artifacts/conflict/",
        {"action": "resolve_override", "_selected_action": [blocked.pk]},
    )
    assert response.status_code == 302
    conflict = Conflict.objects.get(pk=blocked.pk)
    assert (conflict.status, conflict.resolved_by) == ("resolved", "user:otto")
    assert Artifact.objects.get(pk=conflict.artifact_id).is_blocked is False
    assert events_after(start) == [
        ("conflict.escalated", "user:otto"),
        ("conflict.resolved", "user:otto"),
        ("artifact.unblocked", "user:otto"),
    ]
    # The detail page stays read-only: no save button for a governed row.
    detail = client.get(f"/admin/artifacts/conflict/{blocked.pk}/change/")
    assert detail.status_code == 200 and b'name="_save"' not in detail.content


def test_an_auditor_exports_csv_from_the_admin_and_the_export_is_recorded(org_a, blocked):
    client = staff_client("aud", AUDITOR)
    ids = list(AuditEvent.objects.order_by("seq").values_list("pk", flat=True)[:3])
    start = last_seq()
    response = client.post(
        "/admin/compliance/auditevent/", {"action": "export_csv", "_selected_action": ids}
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["X-MetaQore-Export-Count"] == "3"
    rows = b"".join(response.streaming_content).decode().splitlines()
    assert rows[0].startswith("timestamp,event_type,organization,actor")
    assert len(rows) == 4
    assert events_after(start) == [("compliance.exported", "user:aud")]
    assert AuditEvent.objects.get(seq=start + 1).payload["via"] == "admin"


def test_an_org_admin_adds_edits_and_deletes_a_provider_through_the_service(org_a):
    client = staff_client("ada", ORG_ADMIN)
    start = last_seq()
    form = {
        "name": "vllm-east",
        "kind": "local",
        "available": "on",
        "latency_ms": "40",
        "capacity_score": "0.5",
        "priority": "20",
    }
    response = client.post("/admin/governance/provider/add/", form)
    assert response.status_code == 302, response.content[:2000]
    provider = Provider.objects.get(name="vllm-east")
    response = client.post(
        f"/admin/governance/provider/{provider.pk}/change/", {**form, "latency_ms": "55"}
    )
    assert response.status_code == 302
    assert Provider.objects.get(pk=provider.pk).latency_ms == 55
    response = client.post(f"/admin/governance/provider/{provider.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Provider.objects.filter(name="vllm-east").exists()
    assert events_after(start) == [
        ("provider.created", "user:ada"),
        ("provider.updated", "user:ada"),
        ("provider.deleted", "user:ada"),
    ]


def test_an_officer_cannot_change_the_policy_or_providers_in_the_admin(org_a):
    client = staff_client("otto", COMPLIANCE_OFFICER)
    assert client.get("/admin/governance/governancepolicy/1/change/").status_code == 200
    start = last_seq()
    response = client.post("/admin/governance/governancepolicy/1/change/", {"mode": "permissive"})
    assert response.status_code == 403
    assert events_after(start) == []


def test_migrate_brings_existing_orgs_role_groups_in_step(org_a):
    officer = Group.objects.get(name=COMPLIANCE_OFFICER)
    officer.permissions.clear()  # an org from before the table, or a hand edit
    role_permissions_after_migrate(sender=None)
    codes = {
        f"{p.content_type.app_label}.{p.content_type.model}:{p.codename.split('_')[0]}"
        for p in officer.permissions.select_related("content_type")
    }
    expected = {f"{model}:{verb}" for model, verb in ROLE_MODEL_PERMISSIONS[COMPLIANCE_OFFICER]}
    assert codes == expected


def test_every_granted_permission_exists():
    """A typo in the table would silently grant nothing: every entry names a real model."""
    for grants in ROLE_MODEL_PERMISSIONS.values():
        for model, _verb in grants:
            apps.get_model(model)  # raises LookupError for an unknown model


def test_create_platform_admin(db):
    connection.set_schema_to_public()
    out = io.StringIO()
    call_command("create_platform_admin", "root", password="Platform-Pass-2024!", stdout=out)
    assert "Created platform admin 'root'" in out.getvalue()
    user = get_user_model().objects.get(username="root")
    assert user.is_superuser and user.is_staff
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_platform_admin", "root", password="Platform-Pass-2024!")
    with pytest.raises(CommandError):
        call_command("create_platform_admin", "weak", password="123")
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    assert client.get("/admin/tenants/organization/").status_code == 200


def test_the_admin_wears_the_dashboards_look_and_states_are_badges(org_a, blocked):
    client = staff_client("otto", COMPLIANCE_OFFICER)
    page = client.get("/admin/artifacts/artifact/").content.decode()
    assert "dashboard/theme.css" in page and "dashboard/admin.css" in page
    assert "dark_mode.css" not in page  # one look: the dashboard has no dark variant
    assert '<span class="badge badge-blocked">blocked</span>' in page
    assert "icon-yes.svg" not in page and "icon-no.svg" not in page
    conflicts = client.get("/admin/artifacts/conflict/").content.decode()
    assert f'<span class="badge badge-{blocked.severity}">{blocked.severity}</span>' in conflicts
    assert '<span class="badge badge-open">open</span>' in conflicts
    assert 'href="/dashboard/"' in conflicts  # back to the dashboard


def test_an_org_admin_manages_users_but_hands_out_roles_not_superuser(org_a):
    client = staff_client("ada", ORG_ADMIN)
    page = client.get("/admin/auth/user/add/")
    assert page.status_code == 200
    viewer = get_user_model().objects.create_user("newbie", "", "pw-Secret-123", is_staff=True)
    form = client.get(f"/admin/auth/user/{viewer.pk}/change/").content.decode()
    assert 'name="groups"' in form
    assert 'name="is_superuser"' not in form and 'name="user_permissions"' not in form


def test_every_model_of_the_orgs_admin_is_in_the_role_table():
    """A model registered in the org's admin that no role may view would show nobody but
    superusers: every one is in the table, at least for org admins."""
    org_apps = {name.rsplit(".", 1)[-1] for name in settings.TENANT_APPS}
    viewable = {model for model, verb in ROLE_MODEL_PERMISSIONS[ORG_ADMIN] if verb == "view"}
    registered = {
        f"{model._meta.app_label}.{model._meta.model_name}"
        for model in admin.site._registry
        if model._meta.app_label in org_apps
    }
    assert registered - viewable == set()
