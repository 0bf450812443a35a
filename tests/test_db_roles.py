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
from tests.processes import database_url, http, manage, running_server, subprocess_env

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
    with pytest.raises(errors.InsufficientPrivilege):
        runtime.execute(
            "UPDATE compliance_auditevent SET payload = %s WHERE seq = 1",
            [json.dumps({"tampered": True})],
        )


ERASE_STATEMENT = (
    "UPDATE compliance_auditevent SET payload = '{}', salt = '', erasure_id = 'ers_forged' "
    "WHERE seq = 1"
)
DELETE_STATEMENT = "DELETE FROM compliance_auditevent WHERE seq = 1"


@pytest.mark.parametrize(
    ("setting", "value", "statement"),
    [
        ("metaqore.audit_erasure", "ers_forged", ERASE_STATEMENT),
        ("metaqore.audit_erasure", "ers_forged", "UPDATE compliance_auditevent SET actor = 'x'"),
        ("metaqore.audit_prune_upto", "1000000", DELETE_STATEMENT),
    ],
)
def test_declaring_erasure_or_prune_in_a_session_changes_no_event(
    runtime, setting, value, statement
):
    """The runtime role holds neither UPDATE nor DELETE on audit events: declaring what
    erasure/retention declare inside their definer functions does not help."""
    runtime.execute("SELECT set_config(%s, %s, false)", [setting, value])
    with pytest.raises(errors.InsufficientPrivilege):
        runtime.execute(statement)


def connect_as_owner(schema: str) -> psycopg.Connection:
    settings = connection.settings_dict
    conn = psycopg.connect(
        host=settings["HOST"],
        port=settings["PORT"] or 5432,
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        dbname=settings["NAME"],
    )
    conn.execute(f'SET search_path = "{schema}", public')
    return conn


@pytest.mark.parametrize(
    ("setting", "value", "statement", "message"),
    [
        ("metaqore.audit_erasure", "ers_forged", ERASE_STATEMENT, "only redacted by an erasure"),
        ("metaqore.audit_prune_upto", "1000000", DELETE_STATEMENT, "only by retention"),
        (
            "metaqore.audit_prune_upto",
            "1",
            "UPDATE compliance_auditchainhead SET base_seq = 1",
            "chain base moves only",
        ),
    ],
)
def test_the_guards_refuse_any_role_but_the_owner_even_if_granted(
    live, setting, value, statement, message
):
    """Second line: were UPDATE/DELETE granted again, the event and head guards still let a
    change through only from the tables' owner (the definer functions), not from a session
    that declared it. Rolled back: the grant never outlives the test."""
    with connect_as_owner(live.organization.schema_name) as owner:
        owner.execute(f"GRANT UPDATE, DELETE ON compliance_auditevent TO {EMBEDDED_RUNTIME_ROLE}")
        owner.execute(f"SET LOCAL ROLE {EMBEDDED_RUNTIME_ROLE}")
        owner.execute("SELECT set_config(%s, %s, true)", [setting, value])
        with pytest.raises(errors.RaiseException, match=message):
            owner.execute(statement)
        owner.rollback()


def test_the_definer_functions_are_pinned_and_only_the_runtime_role_may_call_them(live):
    schema = live.organization.schema_name
    with connect_as_owner(schema) as owner:
        rows = owner.execute(
            "SELECT p.proname, p.prosecdef, p.proconfig, pg_get_userbyid(p.proowner),"
            " has_function_privilege(%s, p.oid, 'EXECUTE'),"
            " EXISTS (SELECT 1 FROM aclexplode(p.proacl) a WHERE a.grantee = 0)"
            " FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = %s AND p.proname LIKE 'metaqore_audit_%%' ORDER BY 1",
            [EMBEDDED_RUNTIME_ROLE, schema],
        ).fetchall()
        table_owner = owner.execute(
            "SELECT tableowner FROM pg_tables WHERE schemaname = %s"
            " AND tablename = 'compliance_auditevent'",
            [schema],
        ).fetchone()[0]
    assert [row[0] for row in rows] == ["metaqore_audit_erase", "metaqore_audit_prune"]
    for _name, definer, config, function_owner, runtime_may, public_may in rows:
        assert definer and config == ["search_path=pg_catalog, pg_temp"]
        assert function_owner == table_owner
        assert runtime_may and not public_may


def test_the_definer_functions_refuse_unvalidated_arguments(runtime):
    with (
        pytest.raises(errors.InsufficientPrivilege, match="not an approved erasure"),
        runtime.transaction(),
    ):
        runtime.execute("SELECT metaqore_audit_erase('ers_missing')")
    # a forged "approved" row (no approval in the trail) is not an approved erasure either
    with runtime.transaction(force_rollback=True):  # the row itself would fail at commit
        runtime.execute(
            "INSERT INTO compliance_erasure (id, subject, reason, status, requested_by,"
            " requested_at, approved_by, approved_at) VALUES ('ers_forged', %s, 'r',"
            " 'approved', 'user:a', now(), 'user:b', now())",
            [json.dumps({"actor": "agent:watcher"})],
        )
        with (
            pytest.raises(errors.InsufficientPrivilege, match="not an approved erasure"),
            runtime.transaction(),
        ):
            runtime.execute("SELECT metaqore_audit_erase('ers_forged')")
    seq, head_hash = runtime.execute(
        "SELECT seq, hash FROM compliance_auditchainhead WHERE id = 1"
    ).fetchone()
    for upto, digest in ((seq, head_hash), (seq + 1, head_hash), (0, "0" * 64)):
        with (
            pytest.raises(errors.InsufficientPrivilege, match="not a signed checkpoint"),
            runtime.transaction(),
        ):
            runtime.execute("SELECT metaqore_audit_prune(%s, %s)", [upto, digest])
        assert runtime.execute("SELECT count(*) FROM compliance_auditevent").fetchone()[0] >= seq


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


# Last in this module: it removes the committed org's older events.
RUNTIME_ERASE_AND_PRUNE = """
from datetime import timedelta
from django.db import connection
from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateJob
from access.actors import Actor
from access.roles import COMPLIANCE_OFFICER, ORG_ADMIN
from compliance.audit import audit_record
from compliance.checkpoints import checkpoint_if_moved
from compliance.erasure import erasure_approve, erasure_execute, erasure_request
from compliance.retention import retention_apply
from compliance.selectors import audit_chain_verify
from tenants.models import Organization

connection.set_tenant(Organization.objects.get(slug="db-roles"))
cursor = connection.cursor()
cursor.execute("SELECT current_user")
print("user", cursor.fetchone()[0])
audit_record(event_type="task.updated", actor=Actor("agent", "zed"), payload={"n": 1})
officer = Actor("user", "olivia", roles=frozenset({COMPLIANCE_OFFICER}))
admin = Actor("user", "adam", roles=frozenset({ORG_ADMIN}))
erasure = erasure_request(actor=officer, subject="agent:zed", reason="art. 17")
erasure_approve(actor=admin, erasure=erasure)
ProcrastinateJob.objects.filter(args__erasure_id=erasure.id).delete()  # run here instead
print("redacted", erasure_execute(erasure_id=erasure.id).events_redacted)
checkpoint_if_moved()
done = retention_apply(days=1, now=timezone.now() + timedelta(days=2))
print("removed", done.events_removed == done.removed_through_seq > 0)
print("verified", audit_chain_verify().ok)
"""


@pytest.mark.e2e
def test_a_runtime_process_erases_and_prunes(live, tmp_path):
    """Erasure and retention end to end in a process connected as the runtime role."""
    settings = {**connection.settings_dict, "USER": EMBEDDED_RUNTIME_ROLE, "PASSWORD": ""}
    env = subprocess_env(
        DATABASE_URL=database_url(settings), METAQORE_ARCHIVE_DIR=str(tmp_path / "archive")
    )
    done = manage("shell", "-c", RUNTIME_ERASE_AND_PRUNE, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [line for line in done.stdout.splitlines() if line][-4:] == [
        f"user {EMBEDDED_RUNTIME_ROLE}",
        "redacted 1",
        "removed True",
        "verified True",
    ], done.stdout
    assert list((tmp_path / "archive" / "db-roles").glob("audit_db-roles_*.zip"))
