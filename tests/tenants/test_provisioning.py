"""Provisioning by cloning the template schema (tenants.provisioning).

A clone must be indistinguishable from a schema migrated from scratch: same tables, columns,
indexes (the partial unique ones included), constraints under their own names, triggers with
their functions and comments, sequences owned by its own columns, the rows data migrations
seeded, and nothing pointing back into the template. Most tests run in the test's transaction,
so the schemas they create (and any change to the template) are rolled back at the end.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.db.migrations.loader import MigrationLoader
from django_tenants.utils import schema_exists
from rest_framework.test import APIClient

import tenants.provisioning as provisioning
from access.actors import SYSTEM, Actor
from artifacts.services import artifact_declare, artifact_transition
from compliance.audit import audit_record
from governance.models import Provider
from projects.services import project_create
from tenants.catalog import catalog_differences, schema_catalog, schema_row_counts
from tenants.models import Organization
from tenants.provisioning import (
    TEMPLATE_SCHEMA,
    migrations_signature,
    schema_migrate,
    schema_provision,
    template_clone,
    template_dependents,
    template_ensure,
)
from tenants.services import organization_create
from tests.processes import ROOT, database_url, subprocess_env

TENANT_ONLY_APPS = ("governance", "projects", "artifacts", "compliance")


def drop_schema(name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {connection.ops.quote_name(name)} CASCADE")


def fetch(sql: str, params: list | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchall()


def applied(schema_name: str) -> set[tuple[str, str]]:
    return set(fetch(f"SELECT app, name FROM {schema_name}.django_migrations"))


def newest_tenant_migration() -> tuple[str, str, str]:
    """(app, newest migration, the one before it) of an app that lives in tenant schemas."""
    graph = MigrationLoader(None, ignore_no_migrations=True).graph
    for app_label, name in sorted(graph.leaf_nodes()):
        if app_label not in TENANT_ONLY_APPS:
            continue
        parents = [
            p.key[1] for p in graph.node_map[app_label, name].parents if p.key[0] == app_label
        ]
        if parents:
            return app_label, name, parents[0]
    raise AssertionError("no tenant app has two migrations")


def make_template_stale() -> tuple[str, str]:
    """What the template looks like when it was built before the newest migration was added:
    that migration really rolled back in it (its objects gone, its row deleted)."""
    app_label, newest, previous = newest_tenant_migration()
    schema_migrate(TEMPLATE_SCHEMA, app_label, previous)
    # A rollback that moves models between apps creates their permissions (deferred foreign
    # keys); in production it commits on its own, here it shares the test's transaction.
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # checks what is pending now…
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")  # …and defers again, as Django expects
    assert (app_label, newest) not in applied(TEMPLATE_SCHEMA)
    return app_label, newest


def create_org_options(slug: str) -> list[str]:
    return ["--name", slug.title(), "--domain", f"{slug}.localhost"]


def assert_same_schema(expected: str, actual: str) -> None:
    assert catalog_differences(schema_catalog(expected), schema_catalog(actual)) == []
    assert schema_row_counts(expected) == schema_row_counts(actual)


def assert_org_of(template_schema: str, organization: Organization) -> None:
    """An org's schema is the template plus what organization_create adds, in one audited
    transaction: its role groups and their permissions (access.role_permissions), its first
    audit event, and the journal of those governed rows (compliance.guards)."""
    assert (
        catalog_differences(
            schema_catalog(template_schema), schema_catalog(organization.schema_name)
        )
        == []
    )
    rows = schema_row_counts(organization.schema_name)
    groups, permissions, events, journal = (
        rows.pop(table)
        for table in (
            "auth_group",
            "auth_group_permissions",
            "compliance_auditevent",
            "compliance_governedchange",
        )
    )
    assert (groups, events) == (4, 1) and permissions > 0
    assert journal == groups + permissions  # each governed row inserted, journaled
    expected = schema_row_counts(template_schema)
    for table in ("auth_group", "auth_group_permissions", "compliance_auditevent"):
        assert expected.pop(table) == 0, table
    assert expected.pop("compliance_governedchange") == 0
    assert rows == expected


@pytest.fixture
def template(db) -> str:
    """The template, current (the session's test orgs built it)."""
    template_ensure()
    return TEMPLATE_SCHEMA


# What a clone is --------------------------------------------------------------------------


def test_a_clone_is_the_same_schema_as_one_migrated_from_scratch(template):
    assert schema_provision("org_from_scratch", clone=False) == "migrate"
    assert schema_provision("org_from_clone") == "clone"

    assert_same_schema("org_from_scratch", "org_from_clone")
    catalog = schema_catalog("org_from_clone")
    # The kinds the comparison covers are really there (a comparison of two empty sets proves
    # nothing), under the names the models declare.
    constraints = {row[1] for row in catalog["constraint"]}
    assert {"artifact_unique_version", "webhook_delivery_once"} <= constraints
    indexes = {row[1]: row[2] for row in catalog["index"]}
    assert "WHERE" in indexes["artifact_one_active_per_line"]  # a partial unique index
    assert "UNIQUE" in indexes["artifact_one_active_per_line"]
    triggers = {row[1].rsplit("_", 1)[0]: row for row in catalog["trigger"]}
    assert {
        "pgtrigger_audit_event_guard",
        "pgtrigger_audit_event_no_truncate",
        "pgtrigger_audit_head_protect",
        "pgtrigger_artifact_freeze_non_draft",
        "pgtrigger_artifact_psmp_fsm",
    } <= set(triggers)
    pgtriggers = {name: row for name, row in triggers.items() if name.startswith("pgtrigger_")}
    assert all(row[4] for row in pgtriggers.values())  # pgtrigger's hash comments came along
    # pgtrigger's functions (one per trigger), the three of the governed tables' guards and
    # the two SECURITY DEFINER functions of erasure and retention (compliance.definers)
    assert len(catalog["function"]) == len(pgtriggers) + 3 + 2
    definers = {row[0] for row in catalog["function"] if row[0].startswith("metaqore_audit")}
    assert definers == {"metaqore_audit_erase", "metaqore_audit_prune"}
    with connection.cursor() as cursor:  # the clone's own tables, not the template's
        cursor.execute(
            "SELECT pg_get_functiondef(p.oid) FROM pg_proc p"
            " WHERE p.pronamespace = 'org_from_clone'::regnamespace"
            " AND p.proname LIKE 'metaqore_audit%%'"
        )
        bodies = [row[0] for row in cursor.fetchall()]
    assert len(bodies) == 2
    assert all("org_from_clone.compliance_auditevent" in body for body in bodies)
    assert not any(TEMPLATE_SCHEMA in body for body in bodies)
    guards = {(row[0], row[1]) for row in catalog["trigger"] if row[1].startswith("metaqore_")}
    assert ("governance_governancepolicy", "metaqore_guard") in guards
    assert ("auth_user_groups", "metaqore_journal") in guards
    assert {row[7] for row in catalog["sequence"]} >= {"governance_provider", "auth_group"}


def test_a_clone_carries_the_rows_data_migrations_seeded(template):
    schema_provision("org_seeded")
    for table in ("governance_provider", "governance_governancepolicy", "django_migrations"):
        rows = f"SELECT to_jsonb(t)::text FROM {{}}.{table} t ORDER BY 1"
        assert fetch(rows.format("org_seeded")) == fetch(rows.format(TEMPLATE_SCHEMA))
    assert schema_row_counts("org_seeded")["governance_provider"] > 0


def test_nothing_outside_the_template_depends_on_it(template):
    schema_provision("org_independent")
    assert template_dependents() == []
    # Foreign keys, defaults and trigger functions of the clone stay inside the clone.
    assert (
        fetch(
            """
        SELECT co.conname FROM pg_constraint co
        WHERE co.contype = 'f' AND co.connamespace = 'org_independent'::regnamespace
          AND (SELECT relnamespace FROM pg_class WHERE oid = co.confrelid)
              <> 'org_independent'::regnamespace
        """
        )
        == []
    )
    assert (
        fetch(
            """
        SELECT p.proname FROM pg_trigger t
        JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid
        WHERE c.relnamespace = 'org_independent'::regnamespace AND NOT t.tgisinternal
          AND p.pronamespace <> 'org_independent'::regnamespace
        """
        )
        == []
    )
    assert (
        fetch(
            "SELECT proname FROM pg_proc WHERE pronamespace = 'org_independent'::regnamespace"
            " AND prosrc LIKE %s",
            [f"%{TEMPLATE_SCHEMA}%"],
        )
        == []
    )


# A cloned org works --------------------------------------------------------------------------


@pytest.fixture
def cloned_org(template) -> Organization:
    organization = organization_create(slug="cloned", name="Cloned", domain="cloned.localhost")
    assert organization.provisioned_by == "clone"
    connection.set_tenant(organization)
    return organization


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE compliance_auditevent SET payload = '{}'",
        "DELETE FROM compliance_auditevent",
        "TRUNCATE compliance_auditevent",
        "DELETE FROM compliance_auditchainhead",
        "TRUNCATE compliance_auditchainhead",
    ],
)
def test_the_audit_trail_triggers_fire_in_a_clone(cloned_org, statement):
    audit_record(event_type="x.y", actor=SYSTEM)
    with (
        pytest.raises(DatabaseError, match=r"Cannot|cannot be (truncated|updated|deleted)"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)


def test_the_artifact_triggers_fire_in_a_clone(cloned_org):
    agent = Actor("agent", "coder")
    project = project_create(actor=agent, name="p")
    artifact = artifact_declare(
        actor=agent, project=project, artifact_type="code", data={}
    ).artifact
    artifact_transition(artifact=artifact, actor=agent, to="active")
    with connection.cursor() as cursor:
        # frozen content (a trigger with a WHEN condition), then the state machine
        for statement in (
            "UPDATE artifacts_artifact SET data = '{\"x\": 1}'::jsonb WHERE id = %s",
            "UPDATE artifacts_artifact SET state = 'draft' WHERE id = %s",
        ):
            with pytest.raises(DatabaseError, match="pgtrigger"), transaction.atomic():
                cursor.execute(statement, [artifact.id])
        cursor.execute(
            "UPDATE artifacts_artifact SET state = 'archived' WHERE id = %s", [artifact.id]
        )


def test_ids_continue_after_the_seeded_rows_and_each_org_counts_its_own(cloned_org):
    seeded = Provider.objects.order_by("-id").values_list("id", flat=True).first()
    template_next = fetch(f"SELECT last_value FROM {TEMPLATE_SCHEMA}.governance_provider_id_seq")
    first = Provider.objects.create(name="first-local", kind="local")
    assert first.id == seeded + 1

    connection.set_schema_to_public()
    other = organization_create(slug="cloned-two", name="Two", domain="two.localhost")
    connection.set_tenant(other)
    assert Provider.objects.create(name="other-local", kind="local").id == seeded + 1
    assert fetch(f"SELECT last_value FROM {TEMPLATE_SCHEMA}.governance_provider_id_seq") == (
        template_next
    )


def test_deleting_an_org_drops_its_schema_and_leaves_the_template(template):
    organization = organization_create(slug="doomed", name="Doomed", domain="doomed.localhost")
    assert schema_exists("org_doomed")
    organization.delete(force_drop=True)
    assert not schema_exists("org_doomed")
    assert schema_exists(TEMPLATE_SCHEMA)
    assert not template_ensure()  # still current


# The template is kept current ----------------------------------------------------------------


def test_a_missing_template_is_built_by_the_first_org(template):
    drop_schema(TEMPLATE_SCHEMA)
    organization = organization_create(slug="first", name="First", domain="first.localhost")
    assert organization.provisioned_by == "clone"
    assert schema_exists(TEMPLATE_SCHEMA)
    assert_org_of(TEMPLATE_SCHEMA, organization)


def test_a_stale_template_is_rebuilt_before_it_is_cloned(template):
    schema_provision("org_complete", clone=False)
    app_label, newest = make_template_stale()

    organization = organization_create(slug="late", name="Late", domain="late.localhost")

    assert organization.provisioned_by == "clone"
    assert (app_label, newest) in applied(TEMPLATE_SCHEMA)
    assert (app_label, newest) in applied(organization.schema_name)
    assert_org_of("org_complete", organization)


def test_a_clone_of_a_stale_template_is_completed_by_the_real_migrate(template):
    """The safety net: provisioning runs a real migrate after the clone (never --fake), so
    even a stale clone ends up complete rather than with migrations recorded but not applied."""
    complete = schema_catalog(TEMPLATE_SCHEMA)
    app_label, newest = make_template_stale()
    template_clone("org_stale_copy")
    assert (app_label, newest) not in applied("org_stale_copy")

    schema_migrate("org_stale_copy")

    assert (app_label, newest) in applied("org_stale_copy")
    assert catalog_differences(complete, schema_catalog("org_stale_copy")) == []


def test_the_template_is_rebuilt_when_the_migrations_on_disk_change(template):
    with connection.cursor() as cursor:
        cursor.execute(f"COMMENT ON SCHEMA {TEMPLATE_SCHEMA} IS 'built by older code'")
    assert template_ensure() is True
    assert fetch(
        "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = %s",
        [TEMPLATE_SCHEMA],
    ) == [(migrations_signature(),)]
    assert template_ensure() is False


def test_a_clone_that_differs_from_the_template_is_replaced_by_a_migrated_schema(
    template, monkeypatch, caplog
):
    """clone_schema losing an object (here: a trigger dropped right after the copy) is caught
    by the catalog comparison; the clone is rolled back and the schema migrated instead."""
    restore = provisioning._clone_restore_names

    def lose_a_trigger(schema_name: str) -> None:
        restore(schema_name)
        (name,) = fetch(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND tgname LIKE %s",
            [f"{schema_name}.compliance_auditevent", "pgtrigger_audit_event_guard%"],
        )[0]
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER {name} ON {schema_name}.compliance_auditevent")

    monkeypatch.setattr(provisioning, "_clone_restore_names", lose_a_trigger)

    assert schema_provision("org_fallback") == "migrate"

    assert "differs from tenant_template" in caplog.text
    assert_same_schema(TEMPLATE_SCHEMA, "org_fallback")


def test_a_failed_provisioning_leaves_no_org_and_no_schema(template, monkeypatch):
    def broken_migrate(schema_name: str, *targets: str, verbosity: int = 0) -> None:
        raise RuntimeError("migration failed")

    monkeypatch.setattr(provisioning, "schema_migrate", broken_migrate)
    with pytest.raises(RuntimeError, match="migration failed"):
        organization_create(slug="broken", name="Broken", domain="broken.localhost")
    assert not Organization.objects.filter(slug="broken").exists()
    assert not schema_exists("org_broken")
    assert schema_exists(TEMPLATE_SCHEMA)


# The template is no organization -------------------------------------------------------------


def test_the_template_is_never_an_organization(template):
    assert not Organization.objects.filter(schema_name__iexact=TEMPLATE_SCHEMA).exists()
    for headers in (
        {"HTTP_X_METAQORE_ORG": TEMPLATE_SCHEMA},
        {"HTTP_X_METAQORE_ORG": "tenant-template"},
    ):
        response = APIClient(HTTP_HOST="localhost", **headers).get("/api/v1/health")
        assert response.status_code == 404
    assert APIClient(HTTP_HOST="tenant-template.localhost").get("/api/v1/health").status_code == 404

    with pytest.raises(ValidationError, match="reserved"):
        Organization(slug="sneaky", name="Sneaky", schema_name=TEMPLATE_SCHEMA).save()
    assert schema_exists(TEMPLATE_SCHEMA)

    # The slug that comes closest gets a schema of its own.
    organization = organization_create(
        slug="tenant-template", name="Not the template", domain="tt.localhost"
    )
    assert organization.schema_name == "org_tenant_template"


# Concurrency -------------------------------------------------------------------------------


def test_two_create_org_processes_at_once_build_the_template_once(
    django_db_setup, django_db_blocker
):
    """Two `manage.py create_org` at the same moment, with no template yet: one builds it
    while the other waits on the advisory lock, and both orgs are complete clones."""
    slugs = ("twin-a", "twin-b")
    with django_db_blocker.unblock():
        drop_schema(TEMPLATE_SCHEMA)  # committed: the processes see no template
        env = subprocess_env(DATABASE_URL=database_url(connection.settings_dict))
        processes = [
            subprocess.Popen(
                [sys.executable, "manage.py", "create_org", slug, *create_org_options(slug)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for slug in slugs
        ]
        try:
            outputs = [process.communicate(timeout=180) for process in processes]
            assert [process.returncode for process in processes] == [0, 0], outputs
            logs = [err for _out, err in outputs]
            assert sum("Building the tenant_template schema" in log for log in logs) == 1, logs
            assert not any("failed; migrating it instead" in log for log in logs), logs
            for slug in slugs:
                assert_org_of(TEMPLATE_SCHEMA, Organization.objects.get(slug=slug))
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
            connection.set_schema_to_public()
            for organization in Organization.objects.filter(slug__in=slugs):
                organization.delete(force_drop=True)
