"""PostgreSQL refuses governed writes that bypass the governed path, and verification finds what
slipped past (a disabled guard, an actor declared by hand). Needs committed transactions (the
guard runs at commit): an org of its own, dropped afterwards."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.utils import timezone

from access.actors import SYSTEM, Actor
from access.keys import agent_key_authenticate, agent_key_create
from access.roles import VIEWER
from access.users import permissions_set, role_grant, user_create
from artifacts.services import artifact_declare
from compliance.audit import audit_record
from compliance.erasure import erasure_request
from compliance.guards import TRIGGERS
from compliance.models import AuditEvent
from compliance.selectors import audit_chain_verify
from events.webhooks import webhook_create
from governance.models import GovernancePolicy
from governance.policy import policy_update
from governance.waivers import waiver_create
from hmcp.registry import skill_create
from metaqore_site.errors import GovernanceBypassError
from metaqore_site.governed import GovernedQuerySet, classifications, governed_writes
from projects.models import Project
from projects.services import project_create, task_create
from tenants.provisioning import TEMPLATE_SCHEMA
from tests.conftest import client_for, user_token
from tests.events.live import committed_organization
from tests.hmcp.conftest import propose
from tests.test_db_roles import connect_as_runtime

SLUG = "guarded"
ADMIN = Actor("user", "adam", roles=frozenset({"org_admin"}))


@pytest.fixture(scope="module")
def guarded(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), committed_organization(SLUG) as organization:
        yield organization


@pytest.fixture
def org(guarded, django_db_blocker):
    with django_db_blocker.unblock():
        connection.set_tenant(guarded)
        yield guarded
        connection.set_schema_to_public()


def governed_tables() -> dict[str, tuple[str, list[str]]]:
    """table -> (pk column, bookkeeping columns) of every governed model."""
    tables = {}
    for label, entry in classifications().items():
        if entry.governed:
            model = apps.get_model(label)
            tables[model._meta.db_table] = (
                model._meta.pk.column,
                sorted(entry.bookkeeping_columns),
            )
    return tables


def installed_triggers(schema: str) -> dict[str, dict[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid)
            FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
            WHERE c.relnamespace = to_regnamespace(%s) AND t.tgname = ANY(%s)
            """,
            [schema, list(TRIGGERS)],
        )
        found: dict[str, dict[str, str]] = {}
        for table, name, definition in cursor.fetchall():
            found.setdefault(table, {})[name] = definition
    return found


def refused(sql: str, params=()) -> str:
    """Run ``sql`` in its own transaction; the message PostgreSQL refused the commit with."""
    with (
        pytest.raises(DatabaseError) as error,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)
    return str(error.value)


def test_every_governed_table_carries_the_guard_in_the_org_and_the_template(org):
    tables = governed_tables()
    for schema in (org.schema_name, TEMPLATE_SCHEMA):
        found = installed_triggers(schema)
        for table, (pk, bookkeeping) in tables.items():
            assert set(found.get(table, {})) == set(TRIGGERS), (schema, table)
            for name in TRIGGERS[:2]:  # guard and journal: (pk, bookkeeping columns…)
                args = found[table][name].rsplit("(", 1)[1].rstrip(")").split(", ")
                assert args[0] == f"'{pk}'", (schema, table)
                assert sorted(args[1:]) == [f"'{c}'" for c in bookkeeping], (schema, table)
            assert "DEFERRABLE INITIALLY DEFERRED" in found[table]["metaqore_guard"]
    # and nothing else is guarded (bookkeeping tables stay writable)
    assert set(installed_triggers(org.schema_name)) == set(tables)


def test_raw_sql_bypasses_are_refused(org):
    project = project_create(actor=ADMIN, name="Raw")
    user = user_create(username="raw-user", password=None, actor=ADMIN)
    viewer = Group.objects.get(name=VIEWER)
    cases = [
        ("UPDATE governance_governancepolicy SET mode = 'playground' WHERE id = 1", ()),
        ("UPDATE projects_project SET name = 'renamed' WHERE id = %s", (project.id,)),
        ("DELETE FROM projects_project WHERE id = %s", (project.id,)),
        (
            "INSERT INTO auth_user_groups (user_id, group_id) VALUES (%s, %s)",
            (user.pk, viewer.pk),
        ),
        ("UPDATE auth_user SET is_superuser = true WHERE id = %s", (user.pk,)),
        ("UPDATE governance_provider SET available = NOT available", ()),
    ]
    for sql, params in cases:
        message = refused(sql, params)
        assert "refused: governed tables change only through" in message, sql
    assert "cannot be truncated" in refused("TRUNCATE projects_task")
    assert GovernancePolicy.load().mode != "playground"
    assert not user.groups.exists()


def test_orm_bulk_writes_raise_naming_the_service(org):
    own = [
        apps.get_model(label)
        for label, entry in classifications().items()
        if entry.governed and not label.startswith("auth.")
    ]
    assert own
    for model in own:
        queryset = model._default_manager.all()
        assert isinstance(queryset, GovernedQuerySet), model
        entry = classifications()[model._meta.label_lower]
        for write in (
            lambda q: q.update(pk=None),
            lambda q: q.delete(),
            lambda q: q.bulk_update([], ["pk"]),
            lambda q: q.bulk_create([]),
        ):
            with pytest.raises(GovernanceBypassError) as error:
                write(queryset)
            assert entry.service in str(error.value)


def test_service_paths_and_bookkeeping_pass(org):
    start = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
    policy_update(actor=ADMIN, changes={"mode": "adaptive"})
    project = project_create(actor=ADMIN, name="Governed")
    user = user_create(username="svc-user", password=None, actor=ADMIN)
    role_grant(user=user, role=VIEWER, actor=ADMIN)
    new = agent_key_create(agent_name="svc-agent")
    Project.objects.filter(pk=project.pk)  # reads are never refused
    with connection.cursor() as cursor:  # bookkeeping columns only: exempt
        cursor.execute("UPDATE governance_agentkey SET last_used_at = NULL")
    assert agent_key_authenticate(new.key) is not None  # stamps last_used_at (bookkeeping)
    types = list(
        AuditEvent.objects.filter(seq__gt=start)
        .order_by("seq")
        .values_list("event_type", flat=True)
    )
    assert types == [
        "policy.changed",
        "project.created",
        "user.created",
        "role.granted",
        "agent_key.created",
    ]
    result = audit_chain_verify()
    assert result.ok and result.unaudited_changes == []


def test_a_declared_actor_without_an_event_passes_but_verify_reports_it(org):
    project = project_create(actor=ADMIN, name="Declared")
    with transaction.atomic(), governed_writes("system:sneaky"):
        Project.objects.filter(pk=project.pk).update(name="sneaky rename")
    result = audit_chain_verify()
    assert not result.ok
    changes = [c for c in result.unaudited_changes if c["row_id"] == project.id]
    assert changes and changes[0]["table"] == "projects_project"
    assert changes[0]["actor"] == "system:sneaky" and changes[0]["operation"] == "UPDATE"
    assert "without an audit event" in (result.reason or "")


def test_superuser_disables_the_guard_and_verify_reports_the_row(org, auditor_client):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("ALTER TABLE governance_governancepolicy DISABLE TRIGGER metaqore_guard")
        cursor.execute("UPDATE governance_governancepolicy SET mode = 'playground' WHERE id = 1")
        cursor.execute("ALTER TABLE governance_governancepolicy ENABLE TRIGGER metaqore_guard")
    body = auditor_client.get("/api/v1/governance/compliance/verify").json()
    assert body["ok"] is False
    assert any(
        c["table"] == "governance_governancepolicy" and c["row_id"] == "1"
        for c in body["unaudited_changes"]
    )
    connection.set_tenant(org)
    with pytest.raises(CommandError, match="without an audit event"):
        call_command("audit_verify", org=SLUG)


@pytest.fixture
def auditor_client(org):
    user = get_user_model().objects.filter(username="aud").first() or user_create(
        username="aud", password=None, roles=["auditor"], actor=ADMIN
    )
    client = client_for(org, token=user_token(org, user))
    connection.set_tenant(org)
    return client


def test_events_carry_their_transaction(org):
    with transaction.atomic():
        event = audit_record(event_type="test.txid", actor="system")
        with connection.cursor() as cursor:
            cursor.execute("SELECT txid_current()")
            (txid,) = cursor.fetchone()
    assert AuditEvent.objects.get(pk=event.id).txid == txid


def test_emergency_change_is_audited_with_the_operator(org):
    call_command(
        "governed_change",
        org=SLUG,
        operator="alice",
        reason="INC-42",
        sql="UPDATE governance_provider SET latency_ms = latency_ms + 1",
    )
    connection.set_tenant(org)
    event = AuditEvent.objects.order_by("-seq").first()
    assert event is not None
    assert (event.event_type, event.actor) == ("governed.emergency_change", "operator:alice")
    assert event.payload["reason"] == "INC-42" and event.payload["rowcount"] >= 1
    assert {c["table"] for c in event.payload["changes"]} == {"governance_provider"}
    assert not [
        c for c in audit_chain_verify().unaudited_changes if c["table"] == "governance_provider"
    ]
    with pytest.raises(CommandError, match="one statement"):
        call_command(
            "governed_change", org=SLUG, operator="a", reason="r", sql="SELECT 1; SELECT 2"
        )


APPEND_ONLY = {"governance_admissiondecision", "governance_policyrevision"}
OFFICER = Actor("user", "olivia", roles=frozenset({"compliance_officer"}))


def seed_every_governed_table(org) -> None:
    """At least one row in each governed table, each through its service (or the API)."""
    project = project_create(actor=ADMIN, name="Seeded")
    task_create(actor=ADMIN, project=project, title="seed")
    for agent in ("coder", "tester"):  # the second declaration conflicts with the first
        artifact_declare(
            actor=Actor("agent", agent), project=project, artifact_type="code", data={}
        )
    policy_update(actor=ADMIN, changes={"mode": "strict"})
    user = get_user_model().objects.filter(username="seeded").first() or user_create(
        username="seeded", password=None, roles=[VIEWER], actor=ADMIN
    )
    permissions_set(user=user, permissions=[Permission.objects.first()], actor=ADMIN)
    webhook_create(actor=ADMIN, url="https://hooks.example.com/x", secret="s" * 20)
    waiver_create(
        actor=OFFICER,
        match={"conflict_types": ["parallel_creation"]},
        justification="seed",
        expires_at=timezone.now() + timedelta(days=1),
    )
    erasure_request(actor=OFFICER, subject="agent:nobody", reason="seed")
    skill_create(
        actor=SYSTEM,
        skill_id="data-cleaning",
        description="",
        parent_agent="data-agent",
        max_specialist_size_mb=500,
        allowed_teachers=["gpt-4o"],
    )
    agent = client_for(org, key=agent_key_create(agent_name="data-agent").key)
    created = propose(agent, project)
    assert created.status_code == 201, created.json()
    connection.set_tenant(org)


def test_every_governed_table_refuses_a_raw_delete(org):
    seed_every_governed_table(org)
    empty = []
    for table, (pk, _bookkeeping) in sorted(governed_tables().items()):
        with connection.cursor() as cursor:
            cursor.execute(f'SELECT "{pk}" FROM "{table}" LIMIT 1')
            row = cursor.fetchone()
        if row is None:
            empty.append(table)
            continue
        # The guard checks at commit; IMMEDIATE makes it check this statement, before the
        # foreign keys (also deferred) would.
        message = refused(
            f'SET CONSTRAINTS metaqore_guard IMMEDIATE; DELETE FROM "{table}" WHERE "{pk}" = %s',
            (row[0],),
        )
        # append-only tables (decisions, policy revisions) refuse it before the guard does
        assert (
            f"DELETE of {org.schema_name}.{table} refused" in message
            or "Cannot update or delete rows" in message
        ), (table, message)
        assert "Cannot update or delete rows" not in message or table in APPEND_ONLY, table
    assert empty == []


def test_the_dashboard_shows_unaudited_changes(org):
    project = project_create(actor=ADMIN, name="Dashboard")
    with transaction.atomic(), governed_writes("system:sneaky"):
        Project.objects.filter(pk=project.pk).update(name="quiet rename")
    admin = get_user_model().objects.filter(username="dash").first() or user_create(
        username="dash", password=None, roles=["auditor"], actor=ADMIN
    )
    client = Client(HTTP_HOST="guarded.localhost")
    client.force_login(admin)
    page = client.post("/dashboard/audit/verify/", follow=True).content.decode()
    connection.set_tenant(org)
    assert "unaudited changes" in page and f"UPDATE projects_project {project.id}" in page


def test_the_runtime_role_is_refused_and_cannot_switch_the_guard_off(org):
    """As the application's own database role (not the owner, not a superuser): a raw write
    is refused by the guard, a service-like transaction (actor declared, event written) is
    journaled, and the guard cannot be disabled."""
    with connect_as_runtime(org.schema_name) as runtime:
        runtime.commit()  # keep the search_path; then each block below is its own transaction
        runtime.autocommit = True
        with (
            pytest.raises(psycopg.Error, match="refused: governed tables change only"),
            runtime.transaction(),
        ):
            runtime.execute("UPDATE governance_provider SET latency_ms = latency_ms + 1")
        with pytest.raises(psycopg.Error, match="must be owner"), runtime.transaction():
            runtime.execute("ALTER TABLE governance_provider DISABLE TRIGGER metaqore_guard")
        with runtime.transaction():
            runtime.execute("SELECT set_config('metaqore.actor', 'system:runtime-test', true)")
            runtime.execute("UPDATE governance_provider SET latency_ms = latency_ms + 1")
    journaled = [
        c
        for c in audit_chain_verify().unaudited_changes
        if c["table"] == "governance_provider" and c["actor"] == "system:runtime-test"
    ]
    assert journaled  # declared without an event: let through, and reported
