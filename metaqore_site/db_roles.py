"""The runtime role's privileges, granted by the owner after every migrate (README "Security").

The runtime role (``metaqore_site.database``: the user of ``DATABASE_URL``, or
``metaqore_app`` with the embedded database) owns nothing and is no superuser, so it can
neither disable a trigger (``ALTER TABLE … DISABLE TRIGGER`` needs the owner) nor set
``session_replication_role`` (superuser only). What it gets, per schema:

- USAGE on the schema; SELECT, INSERT, UPDATE, DELETE on its tables; USAGE, SELECT, UPDATE on
  its sequences. Never TRUNCATE, REFERENCES or TRIGGER, and no CREATE anywhere.
- The same on what the owner creates later (``ALTER DEFAULT PRIVILEGES``: new tables of
  later migrations, schemas of new organizations, the governed-write journal), and this grant
  runs again after every ``migrate`` of every schema (``post_migrate``).
- The append-only tables keep their triggers and lose what the runtime never needs: audit
  events and the governed-write journal are INSERT and SELECT only. Erasure and retention
  change events through two SECURITY DEFINER functions owned by the owner
  (``metaqore_audit_erase``, ``metaqore_audit_prune``, see ``compliance.definers``), which
  check their arguments; EXECUTE on them is the runtime role's only (not PUBLIC's). The event
  guard lets an update or delete through only from the table's owner, so setting
  ``metaqore.audit_erasure`` or ``metaqore.audit_prune_upto`` in a session does nothing.

Sessions cannot switch pgtrigger's triggers off either: pgtrigger skips a trigger named in the
session variable ``pgtrigger.ignore`` (any role may SET it), through the function
``public._pgtrigger_should_ignore``. :func:`pgtrigger_ignore_disable` replaces that function
with one that always says "do not ignore"; it runs after every migrate, since installing a
trigger recreates the original.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import dj_database_url
from django.db import DatabaseError, connections, transaction
from psycopg import sql

from metaqore_site.database import process_role, runtime_role_name

logger = logging.getLogger(__name__)

TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"
SEQUENCE_PRIVILEGES = "USAGE, SELECT, UPDATE"
AUDIT_EVENT_TABLE = "compliance_auditevent"
# compliance.definers: the only way events change (erasure, retention), run as the owner.
AUDIT_FUNCTIONS = ("metaqore_audit_erase(text)", "metaqore_audit_prune(bigint, text)")
JOURNAL_TABLE = "compliance_governedchange"  # compliance.guards: INSERT by the guard trigger

IGNORE_FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION public._pgtrigger_should_ignore(trigger_name NAME)
RETURNS BOOLEAN AS $$
BEGIN
    -- MetaQore: no session may switch a trigger off (SET pgtrigger.ignore has no effect).
    RETURN FALSE;
END;
$$ LANGUAGE plpgsql
"""


CAN_CREATE_SCHEMAS_SQL = "SELECT has_database_privilege(current_database(), 'CREATE')"


def can_create_schemas(*, using: str = "default") -> bool:
    """Whether this connection's role may create schemas (new organizations): the owner
    may, the runtime role may not (``manage.py create_org`` runs as the owner)."""
    with connections[using].cursor() as cursor:
        cursor.execute(CAN_CREATE_SCHEMAS_SQL)
        return bool(cursor.fetchone()[0])


def pgtrigger_ignore_disable(*, using: str = "default") -> None:
    """Make ``SET pgtrigger.ignore`` ineffective for every role (owner only)."""
    with connections[using].cursor() as cursor:
        cursor.execute(IGNORE_FUNCTION_SQL)


def _exists(cursor: Any, query: str, params: list[Any]) -> bool:
    cursor.execute(query, params)
    return cursor.fetchone() is not None


def runtime_role_ensure(*, using: str = "default") -> None:
    """With ``DATABASE_URL`` and ``DATABASE_OWNER_URL`` naming different users, create the
    runtime role (LOGIN, the password of ``DATABASE_URL``, nothing more) if it is missing and
    the owner may create roles (e.g. docker compose's superuser). Otherwise the operator
    creates it (README "Security")."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url or not os.environ.get("DATABASE_OWNER_URL", "").strip():
        return
    config = dj_database_url.parse(url)
    runtime, password = str(config.get("USER") or ""), str(config.get("PASSWORD") or "")
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT current_user")
        if not runtime or cursor.fetchone()[0] == runtime:
            return
        if _exists(cursor, "SELECT 1 FROM pg_roles WHERE rolname = %s", [runtime]):
            return
        try:
            with transaction.atomic(using=using):
                cursor.execute(
                    sql.SQL(
                        "CREATE ROLE {} LOGIN PASSWORD {} NOSUPERUSER NOCREATEDB NOCREATEROLE "
                        "NOREPLICATION NOBYPASSRLS"
                    ).format(sql.Identifier(runtime), sql.Literal(password or None))
                )
        except DatabaseError:
            logger.warning("Could not create the runtime role %s: create it by hand", runtime)


def runtime_privileges_grant(*, schema: str, using: str = "default") -> bool:
    """Grant the runtime role its privileges in ``schema`` (and on what the owner creates
    later). False when there is nothing to grant: the runtime role is the owner itself (one
    ``DATABASE_URL`` for both; ``check --deploy`` warns) or does not exist."""
    runtime = runtime_role_name()
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT current_user, current_database()")
        owner, database = cursor.fetchone()
        if not runtime or runtime == owner:
            return False
        if not _exists(cursor, "SELECT 1 FROM pg_roles WHERE rolname = %s", [runtime]):
            logger.warning("The runtime database role %s does not exist: nothing granted", runtime)
            return False
        role, schema_id = sql.Identifier(runtime), sql.Identifier(schema)
        statements = [
            sql.SQL(text).format(*args)
            for text, args in (
                ("GRANT CONNECT ON DATABASE {} TO {}", (sql.Identifier(database), role)),
                ("GRANT USAGE ON SCHEMA {} TO {}", (schema_id, role)),
                (
                    f"GRANT {TABLE_PRIVILEGES} ON ALL TABLES IN SCHEMA {{}} TO {{}}",
                    (schema_id, role),
                ),
                (
                    "REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA {} FROM {}",
                    (schema_id, role),
                ),
                (
                    f"GRANT {SEQUENCE_PRIVILEGES} ON ALL SEQUENCES IN SCHEMA {{}} TO {{}}",
                    (schema_id, role),
                ),
                (f"ALTER DEFAULT PRIVILEGES GRANT {TABLE_PRIVILEGES} ON TABLES TO {{}}", (role,)),
                (
                    f"ALTER DEFAULT PRIVILEGES GRANT {SEQUENCE_PRIVILEGES} ON SEQUENCES TO {{}}",
                    (role,),
                ),
                ("ALTER DEFAULT PRIVILEGES GRANT USAGE ON SCHEMAS TO {}", (role,)),
            )
        ]
        table_exists = "SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = %s"
        if _exists(cursor, table_exists, [schema, AUDIT_EVENT_TABLE]):
            statements.append(
                sql.SQL("REVOKE UPDATE, DELETE ON {} FROM {}").format(
                    sql.Identifier(schema, AUDIT_EVENT_TABLE), role
                )
            )
        for signature in AUDIT_FUNCTIONS:
            cursor.execute("SELECT to_regprocedure(format('%%I.%%s', %s, %s))", [schema, signature])
            if cursor.fetchone()[0] is not None:  # older schemas lack them
                function = sql.SQL("{}.{}").format(schema_id, sql.SQL(signature))
                statements += [
                    sql.SQL("REVOKE ALL ON FUNCTION {} FROM PUBLIC").format(function),
                    sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(function, role),
                ]
        if _exists(cursor, table_exists, [schema, JOURNAL_TABLE]):
            statements.append(
                sql.SQL("REVOKE UPDATE, DELETE ON {} FROM {}").format(
                    sql.Identifier(schema, JOURNAL_TABLE), role
                )
            )
        for statement in statements:
            cursor.execute(statement)
    return True


# Several schemas may migrate at once (migrate_schemas' multiprocessing executor). Their grants
# and the shared function write the same catalog rows (the database's ACL, the default
# privileges, the function), which PostgreSQL refuses to update concurrently ("tuple
# concurrently updated"): one process at a time, each in one transaction.
_AFTER_MIGRATE_LOCK = "SELECT pg_advisory_xact_lock(hashtext('metaqore:after-migrate'))"


def after_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    """``post_migrate`` (every schema, every migrate): harden pgtrigger, grant the runtime
    role. Only an owner process migrates; a runtime one has nothing to grant."""
    if process_role() != "owner":
        return
    connection = connections[using]
    schema = getattr(connection, "schema_name", "public") or "public"
    with transaction.atomic(using=using):
        with connection.cursor() as cursor:
            cursor.execute(_AFTER_MIGRATE_LOCK)
        pgtrigger_ignore_disable(using=using)
        runtime_role_ensure(using=using)
        runtime_privileges_grant(schema=schema, using=using)
