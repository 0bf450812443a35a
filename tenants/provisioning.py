"""Creating an organization's schema: a clone of a migrated template schema, then ``migrate``.

Running every tenant migration for each new organization gets slower as the schema grows;
copying a schema that has already been migrated does not. The template is an ordinary schema,
``tenant_template``: it is not an organization (no tenant row, no domain), so nothing routes a
request to it and ``migrate_schemas`` does not visit it. It is (re)built here, on demand, from
scratch whenever the migrations on disk are not the ones it was built with, so it is always what
migrating a new schema would produce.

Provisioning a schema, under one PostgreSQL advisory lock (so concurrent ``create_org`` calls,
in any process, never clone a template that is being rebuilt):

1. bring the template up to date (a catalog read when it already is);
2. clone it with django-tenants' ``clone_schema`` (structure and the rows data migrations
   seeded), restore the constraint names and trigger comments the clone loses, and compare the
   clone's catalog with the template's; any difference rolls the clone back.

Then, outside the lock, a real (not ``--fake``) ``migrate`` of the new schema: it applies nothing
when the clone is current and whatever is missing otherwise, so a template that were stale
could make provisioning slower but never leave migrations recorded without their tables.
If cloning fails for any reason, the schema is migrated from scratch instead (and the reason
logged): slower, never wrong.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django_tenants.clone import CLONE_SCHEMA_FUNCTION, CloneSchema
from django_tenants.utils import get_tenant_base_migrate_command_class, schema_exists

from metaqore_site.database import tenant_connection
from tenants.catalog import catalog_differences, schema_catalog, schema_row_counts

logger = logging.getLogger(__name__)

# Organization schemas are `org_<slug>`, so no organization can ever be given this one.
TEMPLATE_SCHEMA = "tenant_template"

# One application-wide key for pg_advisory_lock (the two-int form, apart from the one-int keys
# of other code): serializes template rebuilds and clones across processes.
_LOCK_KEYS = (0x4D51, 0x7E3D)  # "MQ", "template"

# django-tenants installs its clone_schema function (and the enum type its arguments use) in
# `public`, dropping and recreating both on every clone. We install it once per database and
# mark it with the version of its source, so a clone takes no exclusive lock on them.
_CLONE_FUNCTION_VERSION = "metaqore:" + hashlib.sha256(CLONE_SCHEMA_FUNCTION.encode()).hexdigest()


class CloneMismatch(Exception):
    """The cloned schema is not identical to the template; the clone was rolled back."""


def schema_provision(schema_name: str, *, clone: bool = True, verbosity: int = 0) -> str:
    """Create ``schema_name`` with every tenant migration applied. Returns how: ``"clone"``
    (copied from the template) or ``"migrate"`` (migrated from scratch: asked for with
    ``clone=False``, or cloning failed). Raises if the schema cannot be created at all; the
    caller drops what is left (``TenantMixin.save`` does)."""
    method = "migrate"
    if clone:
        try:
            with _template_lock():
                template_ensure(verbosity=verbosity)
                template_clone(schema_name)
            method = "clone"
        except Exception:
            # The clone ran in its own transaction (a savepoint inside the caller's), so
            # nothing of it is left to clean up.
            logger.exception(
                "Cloning %s into %s failed; migrating it instead", TEMPLATE_SCHEMA, schema_name
            )
    if method == "migrate":
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE SCHEMA {connection.ops.quote_name(schema_name)}")
    schema_migrate(schema_name, verbosity=verbosity)
    return method


def template_ensure(*, verbosity: int = 0) -> bool:
    """Build the template schema unless it is current. Returns True if it was (re)built.
    Call it holding the template lock (``schema_provision`` does)."""
    signature = migrations_signature()
    if _template_is_current(signature):
        return False
    logger.info("Building the %s schema (migrations changed or it is missing)", TEMPLATE_SCHEMA)
    quoted = connection.ops.quote_name(TEMPLATE_SCHEMA)
    with transaction.atomic(), connection.cursor() as cursor:  # the old one stays if this fails
        if schema_exists(TEMPLATE_SCHEMA):
            dependents = template_dependents()
            if dependents:  # DROP … CASCADE would silently take these with it
                raise RuntimeError(
                    f"Refusing to rebuild {TEMPLATE_SCHEMA}: objects outside it depend on it: "
                    + "; ".join(dependents[:10])
                )
            cursor.execute(f"DROP SCHEMA {quoted} CASCADE")
        cursor.execute(f"CREATE SCHEMA {quoted}")
    schema_migrate(TEMPLATE_SCHEMA, verbosity=verbosity)
    # Written last: a build that failed half way has no signature and is rebuilt next time.
    with connection.cursor() as cursor:
        cursor.execute(f"COMMENT ON SCHEMA {quoted} IS %s", [signature])
    return True


@functools.cache
def migrations_signature() -> str:
    """A digest of every migration file on disk and of the app lists that decide which ones
    create tables in a tenant schema. The template records the one it was built with, so an
    added, removed or edited migration makes it stale. Cached: the files change only with the
    code, and a code change restarts the process."""
    digest = hashlib.sha256()
    digest.update(repr((settings.SHARED_APPS, settings.TENANT_APPS)).encode())
    loader = MigrationLoader(None, ignore_no_migrations=True)
    for app_label, name in sorted(loader.disk_migrations):
        module = sys.modules[loader.disk_migrations[app_label, name].__module__]
        digest.update(f"\n{app_label}.{name}\n".encode())
        assert module.__file__ is not None  # a migration is a file
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()


def template_dependents() -> list[str]:
    """Objects outside the template that depend on objects inside it (a clone that still
    referred to the template would show up here). Empty when the template is self-contained."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH inside AS (
                SELECT 'pg_class'::regclass AS classid, oid FROM pg_class
                 WHERE relnamespace = to_regnamespace(%(schema)s)
                UNION ALL SELECT 'pg_proc'::regclass, oid FROM pg_proc
                 WHERE pronamespace = to_regnamespace(%(schema)s)
                UNION ALL SELECT 'pg_type'::regclass, oid FROM pg_type
                 WHERE typnamespace = to_regnamespace(%(schema)s)
                UNION ALL SELECT 'pg_constraint'::regclass, oid FROM pg_constraint
                 WHERE connamespace = to_regnamespace(%(schema)s)
                UNION ALL SELECT 'pg_trigger'::regclass, t.oid FROM pg_trigger t
                 JOIN pg_class c ON c.oid = t.tgrelid
                 WHERE c.relnamespace = to_regnamespace(%(schema)s)
                UNION ALL SELECT 'pg_attrdef'::regclass, d.oid FROM pg_attrdef d
                 JOIN pg_class c ON c.oid = d.adrelid
                 WHERE c.relnamespace = to_regnamespace(%(schema)s)
                UNION ALL SELECT 'pg_rewrite'::regclass, r.oid FROM pg_rewrite r
                 JOIN pg_class c ON c.oid = r.ev_class
                 WHERE c.relnamespace = to_regnamespace(%(schema)s)
            )
            SELECT DISTINCT pg_describe_object(d.classid, d.objid, d.objsubid)
            FROM pg_depend d
            JOIN inside target ON target.classid = d.refclassid AND target.oid = d.refobjid
            WHERE d.deptype IN ('n', 'a')
              AND NOT EXISTS (
                  SELECT 1 FROM inside source
                  WHERE source.classid = d.classid AND source.oid = d.objid
              )
            ORDER BY 1
            """,
            {"schema": TEMPLATE_SCHEMA},
        )
        return [row[0] for row in cursor.fetchall()]


@contextmanager
def _template_lock() -> Iterator[None]:
    # Inside the caller's transaction (the admin, tests) the lock is held until that ends, which
    # is also when a template rebuilt here becomes visible to other sessions. In autocommit it
    # is session-level, as migrations commit as they go, and released here: a standalone
    # unlock cannot fail on a broken transaction and stay held in a pooled connection.
    in_transaction = connection.in_atomic_block
    with connection.cursor() as cursor:
        if in_transaction:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", _LOCK_KEYS)
        else:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", _LOCK_KEYS)
    try:
        yield
    finally:
        if not in_transaction:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", _LOCK_KEYS)


def _template_is_current(signature: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = %s",
            [TEMPLATE_SCHEMA],
        )
        row = cursor.fetchone()
    if row is None or row[0] != signature:
        return False
    # The recorded migrations too: the signature says which code built the template, this says
    # that nothing since has rolled a migration back in it.
    tenant_connection.set_schema(TEMPLATE_SCHEMA, include_public=False)
    try:
        executor = MigrationExecutor(connection)
        return not executor.migration_plan(executor.loader.graph.leaf_nodes())
    finally:
        tenant_connection.set_schema_to_public()


def template_clone(schema_name: str) -> None:
    """Copy the template into the new schema ``schema_name``, in one transaction, and check the
    copy against the template (raises ``CloneMismatch``). Call it holding the template lock."""
    tenant_connection.set_schema_to_public()
    _clone_function_install()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT public.clone_schema(%s, %s, 'DATA')", [TEMPLATE_SCHEMA, schema_name]
            )
        # clone_schema sets search_path itself and restores it; make Django set it afresh.
        tenant_connection.forget_search_path()
        tenant_connection.set_schema_to_public()
        _clone_restore_names(schema_name)
        differences = catalog_differences(
            schema_catalog(TEMPLATE_SCHEMA), schema_catalog(schema_name)
        )
        template_rows, clone_rows = (
            schema_row_counts(TEMPLATE_SCHEMA),
            schema_row_counts(schema_name),
        )
        differences += [
            f"rows of {table}: {count} in the template, {clone_rows.get(table)} in the clone"
            for table, count in template_rows.items()
            if clone_rows.get(table) != count
        ]
        if differences:
            raise CloneMismatch(
                f"{schema_name} differs from {TEMPLATE_SCHEMA} (template on the left): "
                + "; ".join(differences[:20])
            )


def _clone_function_install() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT obj_description(p.oid, 'pg_proc') FROM pg_proc p
            JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = 'public' AND p.proname = 'clone_schema'
            """
        )
        if [row[0] for row in cursor.fetchall()] == [_CLONE_FUNCTION_VERSION]:
            return
        CloneSchema()._create_clone_schema_function()
        cursor.execute(
            "COMMENT ON FUNCTION public.clone_schema(text, text, public.cloneparms[]) IS %s",
            [_CLONE_FUNCTION_VERSION],
        )


def _clone_restore_names(schema_name: str) -> None:
    """What clone_schema does not carry over: the names of unique constraints (it creates the
    tables with ``LIKE … INCLUDING ALL``, which names them ``<table>_<columns>_key``; a later
    migration removing ``artifact_unique_version`` by name would fail), comments on triggers
    (pgtrigger keeps each trigger's hash there to tell whether it is installed as declared) and
    the type of sequences (it creates them all as bigint, with the integer maximum kept)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT format('ALTER TABLE %%I.%%I RENAME CONSTRAINT %%I TO %%I',
                          %(clone)s, dc.relname, dco.conname, tco.conname)
            FROM pg_constraint tco
            JOIN pg_class tc ON tc.oid = tco.conrelid
            JOIN pg_class dc ON dc.relname = tc.relname
                            AND dc.relnamespace = to_regnamespace(%(clone)s)
            JOIN pg_constraint dco ON dco.conrelid = dc.oid AND dco.contype = tco.contype
            WHERE tc.relnamespace = to_regnamespace(%(template)s)
              AND replace(pg_get_constraintdef(tco.oid), %(template_prefix)s, '')
                = replace(pg_get_constraintdef(dco.oid), %(clone_prefix)s, '')
              AND NOT EXISTS (SELECT 1 FROM pg_constraint x
                              WHERE x.conrelid = dc.oid AND x.conname = tco.conname)
              AND NOT EXISTS (SELECT 1 FROM pg_constraint y
                              WHERE y.conrelid = tc.oid AND y.conname = dco.conname)
            UNION ALL
            SELECT format('COMMENT ON TRIGGER %%I ON %%I.%%I IS %%L',
                          t.tgname, %(clone)s, c.relname, d.description)
            FROM pg_trigger t
            JOIN pg_class c ON c.oid = t.tgrelid
            JOIN pg_description d ON d.objoid = t.oid AND d.classoid = 'pg_trigger'::regclass
            WHERE c.relnamespace = to_regnamespace(%(template)s) AND NOT t.tgisinternal
            UNION ALL
            SELECT format('ALTER SEQUENCE %%I.%%I AS %%s',
                          %(clone)s, ts.relname, format_type(tq.seqtypid, NULL))
            FROM pg_sequence tq
            JOIN pg_class ts ON ts.oid = tq.seqrelid
            JOIN pg_class ds ON ds.relname = ts.relname
                            AND ds.relnamespace = to_regnamespace(%(clone)s)
            JOIN pg_sequence dq ON dq.seqrelid = ds.oid
            WHERE ts.relnamespace = to_regnamespace(%(template)s) AND tq.seqtypid <> dq.seqtypid
            """,
            {
                "clone": schema_name,
                "template": TEMPLATE_SCHEMA,
                "clone_prefix": f"{schema_name}.",
                "template_prefix": f"{TEMPLATE_SCHEMA}.",
            },
        )
        for (statement,) in cursor.fetchall():
            # Two identical unique constraints on one table match each other's names too: of
            # those renames, the ones whose name is already taken fail and are skipped. The
            # catalog comparison that follows reports anything still different.
            try:
                with transaction.atomic():
                    cursor.execute(statement)
            except DatabaseError:
                logger.debug("Skipped %s", statement, exc_info=True)


def schema_migrate(schema_name: str, *targets: str, verbosity: int = 0) -> None:
    """Django's ``migrate [app_label [migration]]`` in ``schema_name``: what ``migrate_schemas
    --schema`` runs for one schema, except that it keeps the connection open (that command
    closes it afterwards, which would release the session-level template lock)."""
    tenant_connection.set_schema(schema_name, include_public=False)
    # Created first, in the schema itself: otherwise the recorder finds public.django_migrations.
    MigrationRecorder(connection).ensure_schema()
    tenant_connection.set_schema(schema_name)
    try:
        call_command(
            get_tenant_base_migrate_command_class()(),
            *targets,
            interactive=False,
            verbosity=verbosity,
        )
    finally:
        tenant_connection.set_schema_to_public()
