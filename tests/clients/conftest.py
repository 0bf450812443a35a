"""One live server (gunicorn, ASGI: the event stream and /mcp need it) and one organization
for the client package's tests: the clients, the CLI, the MCP server and proxy, the adapters."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest
from django.db import connection

from access.actors import SYSTEM
from access.keys import agent_key_create
from access.roles import COMPLIANCE_OFFICER, ORG_ADMIN
from access.users import user_create
from tenants.services import organization_create
from tests.conftest import user_token
from tests.processes import ROOT, database_url, running_server, subprocess_env

CLIENT_PACKAGE = ROOT / "clients" / "python"


@pytest.fixture(scope="package")
def server(django_db_setup, django_db_blocker, tmp_path_factory):
    """(base URL, {name: credential}): agent keys coder, tester, studio (privileged), trainer;
    JWTs of an org_admin ("admin") and a compliance officer ("officer"). Org slug: client."""
    with django_db_blocker.unblock():
        organization = organization_create(slug="client", name="Client", domain="client.localhost")
        connection.set_tenant(organization)
        keys = {
            name: agent_key_create(agent_name=name, privileged=name == "studio").key
            for name in ("coder", "tester", "studio", "trainer")
        }
        for username, role in (("admin", ORG_ADMIN), ("officer", COMPLIANCE_OFFICER)):
            user = user_create(
                username=username, password="pw-Secret-123", actor=SYSTEM, roles=[role]
            )
            keys[username] = user_token(organization, user)  # a JWT works as the bearer
        connection.set_schema_to_public()
        env = subprocess_env(
            DATABASE_URL=database_url(connection.settings_dict),
            METAQORE_ENABLE_RATE_LIMIT="false",
            METAQORE_WEBHOOK_ALLOW_PRIVATE="true",
        )
        try:
            log = tmp_path_factory.mktemp("server") / "server.log"  # read it when a test fails
            with running_server(env, kind="gunicorn", log=log) as base:
                yield base, keys
        finally:
            organization.delete(force_drop=True)


def console_script(name: str) -> list[str]:
    """The argv that runs the client package's console script ``name`` as pip's generated
    script would (its ``module:function`` from pyproject.toml), from this checkout."""
    scripts = tomllib.loads((CLIENT_PACKAGE / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, function = scripts[name].partition(":")
    code = f"import sys; from {module} import {function}; sys.exit({function}())"
    return [sys.executable, "-c", code]


def client_env(**overrides: str) -> dict[str, str]:
    """A subprocess environment that imports the client package from this checkout."""
    env = subprocess_env(**overrides)
    env["PYTHONPATH"] = str(CLIENT_PACKAGE)
    env["METAQORE_CONFIG"] = str(Path("/nonexistent/metaqore.toml"))
    return env
