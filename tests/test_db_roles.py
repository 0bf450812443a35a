"""Two database roles (issue #18, defect 1): the runtime role cannot switch a guard off.

Reproduced first: any role could ``SET LOCAL pgtrigger.ignore = '{<the guard>}'`` and then
UPDATE an audit event; the embedded setup connected as a superuser, so
``session_replication_role = replica`` worked too; the chain head accepted any UPDATE.

These tests connect as the runtime role (``metaqore_app``, created by the embedded database,
granted its privileges after every migrate) to the test database, in a committed org.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection
from psycopg import errors

from metaqore_site import db_roles
from metaqore_site.database import EMBEDDED_RUNTIME_ROLE, process_role
from tests.events.live import committed_org
from tests.processes import database_url, http, running_server, subprocess_env

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def live(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), committed_org("db-roles") as org:
        yield org


def connect_as_runtime(schema: str) -> psycopg.Connection:
    settings = connection.settings_dict
    conn = psycopg.connect(
        host=settings["HOST"],
        port=settings["PORT"] or 5432,
        user=EMBEDDED_RUNTIME_ROLE,
        dbname=settings["NAME"],
    )
    conn.execute(f'SET search_path = "{schema}", public')
    return conn


@pytest.fixture
def runtime(live) -> Iterator[psycopg.Connection]:
    with connect_as_runtime(live.organization.schema_name) as conn:
        yield conn


def guard_trigger(runtime: psycopg.Connection, prefix: str) -> str:
    row = runtime.execute(
        "SELECT tgname FROM pg_trigger WHERE tgname LIKE %s LIMIT 1", [f"pgtrigger_{prefix}%"]
    ).fetchone()
    assert row, prefix
    return row[0]


def test_pytest_and_owner_commands_are_owner_everything_else_runtime(monkeypatch):
    assert process_role() == "owner"  # pytest
    monkeypatch.setenv("METAQORE_DB_ROLE", "runtime")
    assert process_role() == "runtime"


def test_the_runtime_role_is_neither_superuser_nor_owner(runtime):
    user, superuser = runtime.execute(
        "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    assert user == EMBEDDED_RUNTIME_ROLE
    assert superuser is False
    owned = runtime.execute(
        "SELECT count(*) FROM pg_tables WHERE tableowner = current_user"
    ).fetchone()[0]
    assert owned == 0


def test_set_pgtrigger_ignore_does_not_bypass_the_audit_guard(runtime):
    name = guard_trigger(runtime, "audit_event_guard")
    runtime.execute("SELECT set_config('pgtrigger.ignore', %s, true)", ["{" + name + "}"])
    assert runtime.execute("SELECT public._pgtrigger_should_ignore(%s)", [name]).fetchone() == (
        False,
    )
    with pytest.raises(errors.RaiseException, match="cannot be updated"):
        runtime.execute(
            "UPDATE compliance_auditevent SET payload = %s WHERE seq = 1",
            [json.dumps({"tampered": True})],
        )


def test_audit_identity_columns_are_not_even_updatable(runtime):
    with pytest.raises(errors.InsufficientPrivilege):
        runtime.execute("UPDATE compliance_auditevent SET event_type = 'x' WHERE seq = 1")


def test_session_replication_role_is_refused(runtime):
    with pytest.raises(errors.InsufficientPrivilege):
        runtime.execute("SET session_replication_role = replica")


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE compliance_auditevent DISABLE TRIGGER ALL",
        "ALTER TABLE compliance_auditevent DISABLE TRIGGER USER",
        "ALTER TABLE compliance_auditchainhead DISABLE TRIGGER ALL",
        "DROP TRIGGER IF EXISTS {guard} ON compliance_auditevent",
        "DROP TABLE compliance_auditevent",
    ],
)
def test_triggers_cannot_be_disabled_or_dropped(runtime, statement):
    statement = statement.format(guard=guard_trigger(runtime, "audit_event_guard"))
    with pytest.raises(errors.InsufficientPrivilege):
        runtime.execute(statement)


def test_truncate_is_not_granted(runtime):
    with pytest.raises(errors.InsufficientPrivilege):
        runtime.execute("TRUNCATE compliance_auditevent")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE compliance_auditchainhead SET seq = seq + 1",
        "UPDATE compliance_auditchainhead SET hash = repeat('0', 64)",
        "UPDATE compliance_auditchainhead SET base_seq = 1",
    ],
)
def test_the_chain_head_moves_only_with_an_appended_event(runtime, statement):
    with pytest.raises(errors.RaiseException, match=r"chain (head|base) moves only"):
        runtime.execute(statement)


def test_only_the_owner_may_create_schemas(runtime):
    assert runtime.execute(db_roles.CAN_CREATE_SCHEMAS_SQL).fetchone() == (False,)
    assert db_roles.can_create_schemas() is True  # pytest connects as the owner
    with pytest.raises(errors.InsufficientPrivilege):
        runtime.execute("CREATE SCHEMA org_sneaky")


def test_the_pgtrigger_ignore_function_cannot_be_replaced(runtime):
    with pytest.raises(errors.InsufficientPrivilege):
        runtime.execute(db_roles.IGNORE_FUNCTION_SQL.replace("RETURN FALSE", "RETURN TRUE"))


def test_an_event_must_extend_the_head(live):
    """Even the owner: an event that does not chain from the head is refused."""
    with connect_as_runtime(live.organization.schema_name) as runtime:
        seq, head = runtime.execute(
            "SELECT seq, hash FROM compliance_auditchainhead WHERE id = 1"
        ).fetchone()
        with pytest.raises(errors.RaiseException, match="does not extend the chain head"):
            runtime.execute(
                "INSERT INTO compliance_auditevent (id, seq, timestamp, event_type, organization,"
                " actor, agent_name, provider, task_type, project_id, resource_type,"
                " resource_id, request_id, payload, prev_hash, hash)"
                " VALUES ('evt_forged', %s, now(), 'x', 'db-roles', 'system', '', '', '', '',"
                " '', '', '', '{}', %s, %s)",
                [seq + 5, head, "f" * 64],
            )


@pytest.mark.e2e
def test_a_server_running_as_the_runtime_role_governs_as_usual(live, tmp_path):
    settings = {**connection.settings_dict, "USER": EMBEDDED_RUNTIME_ROLE, "PASSWORD": ""}
    env = subprocess_env(DATABASE_URL=database_url(settings), METAQORE_ENABLE_RATE_LIMIT="false")
    headers = {
        "Host": live.domain,
        "Authorization": f"Bearer {live.key}",
        "Content-Type": "application/json",
    }
    body = {"project_id": live.project_id, "artifact_type": "code", "data": {"v": 1}}
    with running_server(env, kind="gunicorn", log=tmp_path / "server.log") as base:
        status, _, content = http(
            "POST", f"{base}/api/v1/artifacts", headers=headers, body=json.dumps(body).encode()
        )
        assert status == 201, content
        artifact = json.loads(content)
        status, _, content = http(
            "POST",
            f"{base}/api/v1/artifacts/{artifact['id']}/transition",
            headers=headers,
            body=json.dumps({"to": "active"}).encode(),
        )
        assert status == 200, content
    with connect_as_runtime(live.organization.schema_name) as runtime:
        events = runtime.execute(
            "SELECT event_type FROM compliance_auditevent WHERE resource_id = %s ORDER BY seq",
            [artifact["id"]],
        ).fetchall()
        head, last = runtime.execute(
            "SELECT (SELECT seq FROM compliance_auditchainhead), max(seq) "
            "FROM compliance_auditevent"
        ).fetchone()
    assert [e[0] for e in events][:1] == ["artifact.declared"]
    assert head == last  # the head followed every append
