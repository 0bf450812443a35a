"""Users and roles are audited on every write path: services, dashboard, admin, commands, the
shell (safety net, actor ``system``), sign-ins and JWTs. Exactly the expected events, never a
password."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client

from access.actors import Actor
from access.roles import AUDITOR, COMPLIANCE_OFFICER, ORG_ADMIN, VIEWER
from access.users import (
    UserError,
    permissions_set,
    role_grant,
    role_revoke,
    roles_set,
    user_create,
    user_deactivate,
    user_delete,
    user_set_password,
    user_update,
)
from compliance.models import AuditEvent
from tests.conftest import client_for, make_user

ADAM = Actor("user", "adam", roles=frozenset({ORG_ADMIN}))
PASSWORD = "pw-Secret-123-long"


def last_seq() -> int:
    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def events_after(seq: int) -> list[tuple[str, str, str]]:
    return list(
        AuditEvent.objects.filter(seq__gt=seq)
        .order_by("seq")
        .values_list("event_type", "actor", "resource_id")
    )


def payloads_after(seq: int, event_type: str) -> list[dict]:
    return list(
        AuditEvent.objects.filter(seq__gt=seq, event_type=event_type)
        .order_by("seq")
        .values_list("payload", flat=True)
    )


def no_secret_in_trail(seq: int, *secrets: str) -> None:
    text = json.dumps(list(AuditEvent.objects.filter(seq__gt=seq).values()), default=str)
    for secret in secrets:
        assert secret not in text


# --- services ----------------------------------------------------------------------------------


def test_user_lifecycle_through_the_services(org_a):
    start = last_seq()
    user = user_create(username="olivia", password=PASSWORD, roles=[COMPLIANCE_OFFICER], actor=ADAM)
    assert user.check_password(PASSWORD)
    user_update(user=user, actor=ADAM, changes={"email": "o@example.com"})
    user_update(user=user, actor=ADAM, changes={"email": "o@example.com"})  # nothing changed
    user_set_password(user=user, password="another-Secret-456", actor=ADAM)
    role_grant(user=user, role=AUDITOR, actor=ADAM)
    assert role_grant(user=user, role=AUDITOR, actor=ADAM) is False  # already: no event
    role_revoke(user=user, role=COMPLIANCE_OFFICER, actor=ADAM)
    user_deactivate(user=user, actor=ADAM)
    user_delete(user=user, actor=ADAM)

    assert events_after(start) == [
        ("user.created", "user:adam", "olivia"),
        ("role.granted", "user:adam", "olivia"),
        ("user.updated", "user:adam", "olivia"),
        ("user.password_changed", "user:adam", "olivia"),
        ("role.granted", "user:adam", "olivia"),
        ("role.revoked", "user:adam", "olivia"),
        ("user.deactivated", "user:adam", "olivia"),
        ("user.deleted", "user:adam", "olivia"),
    ]
    assert payloads_after(start, "role.granted") == [
        {"user": "olivia", "role": COMPLIANCE_OFFICER},
        {"user": "olivia", "role": AUDITOR},
    ]
    (updated,) = payloads_after(start, "user.updated")
    assert updated["before"] == {"email": ""} and updated["after"] == {"email": "o@example.com"}
    (deleted,) = payloads_after(start, "user.deleted")
    assert deleted["before"]["roles"] == [AUDITOR] and deleted["before"]["is_active"] is False
    no_secret_in_trail(start, PASSWORD, "another-Secret-456", "pbkdf2", "md5$")
    assert not get_user_model().objects.filter(username="olivia").exists()


def test_roles_set_writes_one_event_per_change(org_a):
    user = user_create(username="ron", password=None, roles=[VIEWER, AUDITOR], actor=ADAM)
    start = last_seq()
    assert roles_set(user=user, roles=[AUDITOR, ORG_ADMIN], actor=ADAM) == [AUDITOR, ORG_ADMIN]
    assert [(e[0]) for e in events_after(start)] == ["role.revoked", "role.granted"]
    assert [p["role"] for p in payloads_after(start, "role.revoked")] == [VIEWER]
    start = last_seq()
    roles_set(user=user, roles=[ORG_ADMIN, AUDITOR], actor=ADAM)
    assert events_after(start) == []


def test_unknown_role_and_taken_username_change_nothing(org_a):
    start = last_seq()
    with pytest.raises(UserError, match="Unknown role"):
        user_create(username="x", password=PASSWORD, roles=["wizard"], actor=ADAM)
    user_create(username="x", password=PASSWORD, actor=ADAM)
    with pytest.raises(UserError, match="already exists"):
        user_create(username="x", password=PASSWORD, actor=ADAM)
    assert [e[0] for e in events_after(start)] == ["user.created"]


def test_user_permissions_are_audited(org_a):
    user = user_create(username="perm", password=None, actor=ADAM)
    permission = Permission.objects.get(codename="view_agent")
    start = last_seq()
    permissions_set(user=user, permissions=[permission], actor=ADAM)
    (payload,) = payloads_after(start, "user.updated")
    assert payload == {
        "user": "perm",
        "before": {"permissions": []},
        "after": {"permissions": ["access.view_agent"]},
    }


def test_shell_writes_are_audited_as_system(org_a):
    """The safety net: plain ORM calls from the shell still leave events (actor system)."""
    start = last_seq()
    User = get_user_model()
    user = User.objects.create_user("shelly", "", PASSWORD)
    user.groups.add(Group.objects.get(name=VIEWER))
    user.is_active = False
    user.save()
    user.groups.remove(Group.objects.get(name=VIEWER))
    user.delete()
    assert events_after(start) == [
        ("user.created", "system", "shelly"),
        ("role.granted", "system", "shelly"),
        ("user.deactivated", "system", "shelly"),
        ("role.revoked", "system", "shelly"),
        ("user.deleted", "system", "shelly"),
    ]


def test_public_schema_users_have_no_org_trail(db):
    connection.set_schema_to_public()
    user = user_create(username="platform-op", password=PASSWORD, actor=ADAM)
    user_update(user=user, actor=ADAM, changes={"email": "op@example.com"})
    user_delete(user=user, actor=ADAM)


# --- sign-ins and tokens -----------------------------------------------------------------------


def test_dashboard_login_logout_and_failed_login(org_a):
    make_user(org_a, "lena", VIEWER, password=PASSWORD)
    start = last_seq()
    client = Client(HTTP_HOST="alpha.localhost", REMOTE_ADDR="203.0.113.7")
    client.post("/dashboard/login/", {"username": "lena", "password": "wrong-password"})
    client.post("/dashboard/login/", {"username": "lena", "password": PASSWORD})
    client.post("/dashboard/logout/")
    assert events_after(start) == [
        ("auth.login_failed", "anonymous", "lena"),
        ("auth.login", "user:lena", "lena"),
        ("auth.logout", "user:lena", "lena"),
    ]
    (failed,) = payloads_after(start, "auth.login_failed")
    assert failed == {"username": "lena", "source_ip": "203.0.113.7", "path": "/dashboard/login/"}
    no_secret_in_trail(start, "wrong-password", PASSWORD)


def test_jwt_token_issued_and_refused(org_a):
    make_user(org_a, "tim", AUDITOR, password=PASSWORD)
    start = last_seq()
    api = client_for(org_a)
    bad = api.post("/api/v1/auth/token/", {"username": "tim", "password": "nope-nope"})
    assert bad.status_code == 401
    good = api.post("/api/v1/auth/token/", {"username": "tim", "password": PASSWORD})
    assert good.status_code == 200
    connection.set_tenant(org_a)
    assert events_after(start) == [
        ("auth.login_failed", "anonymous", "tim"),
        ("auth.token_issued", "user:tim", "tim"),
    ]
    (issued,) = payloads_after(start, "auth.token_issued")
    assert issued["kind"] == "jwt" and issued["user"] == "tim"
    no_secret_in_trail(start, "nope-nope", PASSWORD, good.json()["access"])


def test_access_events_are_in_the_audit_api(org_a, auditor):
    user_create(username="api-seen", password=None, roles=[VIEWER], actor=ADAM)
    response = auditor.get("/api/v1/governance/compliance/audit", {"event_type": "role.*"})
    assert response.status_code == 200
    rows = [(e["event_type"], e["resource_id"]) for e in response.json()["results"]]
    assert ("role.granted", "api-seen") in rows


# --- dashboard, admin, commands ----------------------------------------------------------------


def dashboard_admin(org) -> Client:
    client = Client(HTTP_HOST="alpha.localhost")
    client.force_login(make_user(org, "ada", ORG_ADMIN))
    return client


def test_dashboard_users_page_goes_through_the_services(org_a):
    client = dashboard_admin(org_a)
    start = last_seq()
    client.post(
        "/dashboard/users/", {"username": "newbie", "password": PASSWORD, "roles": [VIEWER]}
    )
    client.post("/dashboard/users/", {"set_roles": "newbie", "roles": [AUDITOR]})
    client.post("/dashboard/users/", {"set_active": "newbie", "active": "false"})
    response = client.post(
        "/dashboard/users/", {"username": "newbie", "password": PASSWORD, "roles": [VIEWER]}
    )
    assert response.status_code == 302  # refused with a message, not a 500
    assert events_after(start) == [
        ("user.created", "user:ada", "newbie"),
        ("role.granted", "user:ada", "newbie"),
        ("role.revoked", "user:ada", "newbie"),
        ("role.granted", "user:ada", "newbie"),
        ("user.deactivated", "user:ada", "newbie"),
    ]


@pytest.fixture
def admin_site(org_a):
    root = get_user_model().objects.create_superuser("root", "", PASSWORD)
    client = Client(HTTP_HOST="alpha.localhost")
    client.force_login(root)
    return client


def test_admin_user_pages_go_through_the_services(org_a, admin_site):
    start = last_seq()
    response = admin_site.post(
        "/admin/auth/user/add/",
        {
            "username": "added",
            "usable_password": "true",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    assert response.status_code == 302, response.content[:2000]
    user = get_user_model().objects.get(username="added")
    viewer = Group.objects.get(name=VIEWER)
    response = admin_site.post(
        f"/admin/auth/user/{user.pk}/change/",
        {
            "username": "added",
            "email": "added@example.com",
            "is_active": "on",
            "is_staff": "on",
            "groups": [viewer.pk],
            "last_login_0": "",
            "last_login_1": "",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.content[:3000]
    response = admin_site.post(
        f"/admin/auth/user/{user.pk}/password/",
        {"password1": "brand-New-pw-789", "password2": "brand-New-pw-789"},
    )
    assert response.status_code == 302, response.content[:3000]
    response = admin_site.post(f"/admin/auth/user/{user.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert events_after(start) == [
        ("user.created", "user:root", "added"),
        ("user.updated", "user:root", "added"),
        ("role.granted", "user:root", "added"),
        ("user.password_changed", "user:root", "added"),
        ("user.deleted", "user:root", "added"),
    ]
    no_secret_in_trail(start, PASSWORD, "brand-New-pw-789")


def test_admin_bulk_delete_audits_each_user(org_a, admin_site):
    users = [user_create(username=f"bulk{i}", password=None, actor=ADAM) for i in range(2)]
    start = last_seq()
    response = admin_site.post(
        "/admin/auth/user/",
        {"action": "delete_selected", "_selected_action": [u.pk for u in users], "post": "yes"},
    )
    assert response.status_code == 302
    assert sorted(events_after(start)) == [
        ("user.deleted", "user:root", "bulk0"),
        ("user.deleted", "user:root", "bulk1"),
    ]


def test_admin_groups_are_read_only_in_an_org(org_a, admin_site):
    group = Group.objects.get(name=VIEWER)
    assert admin_site.get("/admin/auth/group/add/").status_code == 403
    response = admin_site.post(f"/admin/auth/group/{group.pk}/change/", {"name": "renamed"})
    assert response.status_code == 403
    assert Group.objects.filter(name=VIEWER).exists()


def test_create_user_command_is_audited(org_a):
    start = last_seq()
    call_command("create_user", "cmd-user", org="alpha", password=PASSWORD, role=AUDITOR)
    connection.set_tenant(org_a)
    assert events_after(start) == [
        ("user.created", "system", "cmd-user"),
        ("role.granted", "system", "cmd-user"),
    ]
    with pytest.raises(CommandError, match="already exists in 'alpha'"):
        call_command("create_user", "cmd-user", org="alpha", password=PASSWORD, role=AUDITOR)
