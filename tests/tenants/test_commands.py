"""Management commands: create_org, create_user, create_agent_key, revoke_agent_key, embedded_db.

Commands run in the test's transaction (rolled back at the end), so even the new org of
``test_create_org_provisions_schema_and_roles`` leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from datetime import timedelta

import psutil
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context, schema_exists

from access.models import AgentKey
from metaqore_site.governed import governed_writes
from tenants.models import Domain, Organization
from tests.conftest import client_for, use_org
from tests.processes import database_url, manage, subprocess_env

KEY_FORMAT = re.compile(r"^mq_[A-Za-z0-9_-]{32,}$")
ROLES = {"org_admin", "compliance_officer", "auditor", "viewer"}


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def public_state() -> tuple[list, list]:
    connection.set_schema_to_public()
    return (
        sorted(Organization.objects.values_list("slug", "schema_name")),
        sorted(Domain.objects.values_list("domain", "tenant__slug")),
    )


# create_org ---------------------------------------------------------------------------------


def test_create_org_provisions_schema_and_roles(db):
    out, _ = run("create_org", "gamma", "--name", "Gamma Inc", "--domain", "Gamma.Localhost")
    assert "Created organization 'gamma'" in out

    org = Organization.objects.get(slug="gamma")
    assert org.name == "Gamma Inc"
    assert org.schema_name == "org_gamma"
    assert schema_exists("org_gamma")
    assert list(org.domains.values_list("domain", "is_primary")) == [("gamma.localhost", True)]
    with schema_context("org_gamma"):
        assert set(Group.objects.values_list("name", flat=True)) == ROLES
        # Migrated: the org's own tables exist and are empty.
        assert AgentKey.objects.count() == 0
        assert get_user_model().objects.count() == 0

    # The new org answers on its host.
    health = client_for(org).get("/api/v1/health")
    assert health.status_code == 200
    assert health.json()["organization"] == "gamma"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("alpha", "--name", "Again", "--domain", "new-alpha.localhost"), "already exists"),
        (("delta", "--name", "Delta", "--domain", "alpha.localhost"), "already used"),
        (("delta", "--name", "Delta", "--domain", "ALPHA.localhost"), "already used"),
        (("Bad_Slug", "--name", "Bad", "--domain", "bad.localhost"), "Invalid slug"),
        (("1abc", "--name", "Bad", "--domain", "bad.localhost"), "Invalid slug"),
        (("a", "--name", "Bad", "--domain", "bad.localhost"), "Invalid slug"),
        (("x" * 41, "--name", "Bad", "--domain", "bad.localhost"), "Invalid slug"),
        (("delta", "--name", "  ", "--domain", "delta.localhost"), "name is required"),
        (("delta", "--name", "Delta", "--domain", " "), "domain is required"),
        (("delta", "--name", "Delta", "--domain", "not a host"), "Invalid domain"),
        (("delta", "--name", "Delta", "--domain", "http://delta.localhost"), "Invalid domain"),
        (("delta", "--name", "Delta", "--domain", "delta.localhost:8001"), "Invalid domain"),
        (("delta", "--name", "Delta", "--domain", "delta-.localhost"), "Invalid domain"),
        (("delta\n", "--name", "Delta", "--domain", "delta.localhost"), "Invalid slug"),
    ],
)
def test_create_org_refusals_change_nothing(db, args, message):
    before = public_state()
    with pytest.raises(CommandError, match=message):
        run("create_org", *args)
    assert public_state() == before
    assert not schema_exists("org_delta")
    assert not schema_exists("org_bad_slug")


# create_user --------------------------------------------------------------------------------


def test_create_user_with_role(org_a):
    out, _ = run(
        "create_user",
        "--org",
        "alpha",
        "olivia",
        "--password",
        "pw-Olivia-1",
        "--role",
        "compliance_officer",
    )
    assert "Created user 'olivia' (compliance_officer) in 'alpha'" in out
    use_org(org_a)
    user = get_user_model().objects.get(username="olivia")
    assert user.check_password("pw-Olivia-1")
    assert list(user.groups.values_list("name", flat=True)) == ["compliance_officer"]
    assert not user.is_superuser
    # The user lives in alpha's schema only.
    with schema_context("org_beta"):
        assert not get_user_model().objects.filter(username="olivia").exists()


def test_create_superuser(org_a):
    run(
        "create_user",
        "--org",
        "alpha",
        "root",
        "--password",
        "pw-Root-123",
        "--role",
        "org_admin",
        "--superuser",
    )
    use_org(org_a)
    user = get_user_model().objects.get(username="root")
    assert user.is_superuser and user.is_staff
    assert list(user.groups.values_list("name", flat=True)) == ["org_admin"]


def test_create_user_refusals(org_a):
    run("create_user", "--org", "alpha", "dup", "--password", "pw-Dup-1234", "--role", "viewer")
    with pytest.raises(CommandError, match="already exists in 'alpha'"):
        run("create_user", "--org", "alpha", "dup", "--password", "other-pw-1", "--role", "auditor")
    with pytest.raises(CommandError, match="Unknown organization 'nope'"):
        run("create_user", "--org", "nope", "x", "--password", "pw-X-123456", "--role", "viewer")
    with pytest.raises(CommandError, match="invalid choice"):
        run("create_user", "--org", "alpha", "y", "--password", "pw-Y-123456", "--role", "boss")
    use_org(org_a)
    dup = get_user_model().objects.get(username="dup")
    assert dup.check_password("pw-Dup-1234")
    assert list(dup.groups.values_list("name", flat=True)) == ["viewer"]
    assert not get_user_model().objects.filter(username__in=["x", "y"]).exists()


# create_agent_key / revoke_agent_key --------------------------------------------------------


def create_key(*extra: str, org: str = "alpha", agent: str = "builder") -> str:
    out, err = run("create_agent_key", "--org", org, "--agent", agent, *extra)
    assert "not shown again" in err
    last_line = out.strip().splitlines()[-1]
    assert KEY_FORMAT.match(last_line), out
    return last_line


def all_column_values(model) -> list[str]:
    return [str(value) for row in model.objects.values_list() for value in row]


def test_create_agent_key_prints_key_last_and_stores_only_its_hash(org_a):
    key = create_key()
    use_org(org_a)
    record = AgentKey.objects.select_related("agent").get()
    assert record.agent.name == "builder"
    assert record.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key.startswith(record.prefix)
    assert record.is_privileged is False
    assert record.expires_at is None
    assert not any(key in value for value in all_column_values(AgentKey))

    response = client_for(org_a, key=key).get("/api/v1/projects")
    assert response.status_code == 200
    # Keys are random: a second key for the same agent differs.
    assert create_key() != key


def test_create_agent_key_options(org_a):
    create_key("--privileged", "--expires-in-days", "7", agent="orchestrator")
    use_org(org_a)
    record = AgentKey.objects.get(agent__name="orchestrator")
    assert record.is_privileged is True
    remaining = record.expires_at - timezone.now()
    assert timedelta(days=6, hours=23) < remaining <= timedelta(days=7)
    for bad in ("0", "-3"):
        with pytest.raises(CommandError, match="must be positive"):
            run("create_agent_key", "--org", "alpha", "--agent", "x", "--expires-in-days", bad)
    with pytest.raises(CommandError, match="Unknown organization"):
        run("create_agent_key", "--org", "nope", "--agent", "x")
    with pytest.raises(CommandError, match="1-200 characters"):
        run("create_agent_key", "--org", "alpha", "--agent", "   ")


def test_expired_key_is_rejected(org_a):
    key = create_key("--expires-in-days", "1")
    client = client_for(org_a, key=key)
    assert client.get("/api/v1/projects").status_code == 200
    use_org(org_a)
    with governed_writes("system:test"):
        AgentKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get("/api/v1/projects")
    assert response.status_code == 401
    assert "detail" in response.json()


def test_revoke_agent_key(org_a):
    key = create_key()
    keep = create_key(agent="other")
    assert client_for(org_a, key=key).get("/api/v1/projects").status_code == 200

    out, _ = run("revoke_agent_key", "--org", "alpha", key[:12])
    assert "Revoked key" in out and "'builder'" in out
    assert client_for(org_a, key=key).get("/api/v1/projects").status_code == 401
    assert client_for(org_a, key=keep).get("/api/v1/projects").status_code == 200
    # Revoking again is harmless; the revocation time is kept.
    use_org(org_a)
    revoked_at = AgentKey.objects.get(agent__name="builder").revoked_at
    run("revoke_agent_key", "--org", "alpha", key[:12])
    use_org(org_a)
    assert AgentKey.objects.get(agent__name="builder").revoked_at == revoked_at


def test_revoke_agent_key_refusals(org_a):
    key = create_key()
    with pytest.raises(CommandError, match="No API key"):
        run("revoke_agent_key", "--org", "alpha", "mq_doesnotexist")
    with pytest.raises(CommandError, match="at least 6"):
        run("revoke_agent_key", "--org", "alpha", "mq_")
    # alpha's key cannot be revoked through beta.
    with pytest.raises(CommandError, match="No API key"):
        run("revoke_agent_key", "--org", "beta", key[:12])
    assert client_for(org_a, key=key).get("/api/v1/projects").status_code == 200


# embedded_db ---------------------------------------------------------------------------------


def test_embedded_db_status(db, settings):
    out, _ = run("embedded_db", "status")
    status = json.loads(out)
    assert status["pgdata"].endswith("/pg")
    assert isinstance(status["running"], bool)
    if status["running"]:
        assert psutil.Process(status["pid"]).name() == "postgres"
    if not settings.DATABASES["default"]["HOST"].startswith("/"):
        return  # DATABASE_URL points at a TCP server; the embedded one is not in use
    # This very test runs on the embedded server, so it must be reported running.
    assert status["running"] is True
    assert status["socket_dir"] == settings.DATABASES["default"]["HOST"]


# through a real process ----------------------------------------------------------------------


def test_manage_py_create_org_duplicate_exits_1(db):
    env = subprocess_env(DATABASE_URL=database_url(connection.settings_dict))
    before = public_state()
    result = manage(
        "create_org", "alpha", "--name", "Again", "--domain", "again.localhost", env=env
    )
    assert result.returncode == 1
    assert "Organization 'alpha' already exists." in result.stderr
    assert "Traceback" not in result.stderr
    assert public_state() == before

    result = manage("create_agent_key", "--org", "nope", "--agent", "x", env=env)
    assert result.returncode == 1
    assert "Unknown organization 'nope'." in result.stderr
