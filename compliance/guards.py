"""The database side of governed tables (``metaqore_site.governed`` is the Python side).

``guards_install()`` (a migration operation of compliance) creates three trigger functions in
the organization's schema; ``govern_table(table, ...)`` (a migration operation of the app that
owns the table) attaches them:

- ``metaqore_guard``: a constraint trigger, DEFERRABLE INITIALLY DEFERRED, so it runs at
  commit for every changed row. It refuses the commit unless the transaction declared its actor
  (``SET LOCAL metaqore.actor``, which ``governed_writes`` does) or wrote an audit event (the
  event's ``txid`` is the transaction's). Services write their event after the row: a deferred
  check sees both.
- ``metaqore_journal``: an AFTER row trigger that journals every change (table, row id,
  operation, txid, declared actor, time) to ``compliance_governedchange``. Verification
  reconciles the journal with the trail by txid: a change whose transaction wrote no event is
  reported (a superuser who disabled the guard, or declared an actor by hand, is found).
- ``metaqore_no_truncate``: TRUNCATE is refused (it would bypass row triggers).

An UPDATE that changes nothing, or only the table's bookkeeping columns, is neither refused
nor journaled. The functions look tables up in the trigger's own schema (``TG_TABLE_SCHEMA``),
so they hold no schema name and clone with the schema. They run as the caller (no SECURITY
DEFINER): the application's role needs INSERT on the journal and SELECT on the events, which
it has for its own writes anyway.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import migrations

GUARD_FUNCTION = "metaqore_governed_guard"
JOURNAL_FUNCTION = "metaqore_governed_journal"
NO_TRUNCATE_FUNCTION = "metaqore_governed_no_truncate"
TRIGGERS = ("metaqore_guard", "metaqore_journal", "metaqore_no_truncate")

# TG_ARGV[0] is the primary key column, the rest are the bookkeeping columns.
_ONLY_BOOKKEEPING = """
    IF TG_OP = 'UPDATE' THEN
        exempt := TG_ARGV[1:TG_NARGS - 1];
        IF (to_jsonb(OLD) - exempt) = (to_jsonb(NEW) - exempt) THEN
            RETURN NULL;
        END IF;
    END IF;
"""

# Fixed text (no input reaches it).
FUNCTIONS_SQL = f"""
CREATE OR REPLACE FUNCTION {GUARD_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $guard$
DECLARE
    exempt text[];
    audited boolean;
BEGIN
    {_ONLY_BOOKKEEPING}
    IF coalesce(current_setting('metaqore.actor', true), '') <> '' THEN
        RETURN NULL;
    END IF;
    IF current_setting('metaqore.audited_txid', true) = txid_current()::text THEN
        RETURN NULL;
    END IF;
    EXECUTE format(
        'SELECT EXISTS (SELECT 1 FROM %I.compliance_auditevent WHERE txid = txid_current())',
        TG_TABLE_SCHEMA
    ) INTO audited;
    IF audited THEN
        PERFORM set_config('metaqore.audited_txid', txid_current()::text, true);
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'metaqore: % of %.% refused: governed tables change only through '
        'MetaQore''s services (an actor declared and an audit event written in the same '
        'transaction)', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = '42501',
              HINT = 'Call the service that owns the table; for an emergency change: '
                     'manage.py governed_change.';
END
$guard$;

CREATE OR REPLACE FUNCTION {JOURNAL_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $journal$
DECLARE
    exempt text[];
    row_data jsonb;
BEGIN
    {_ONLY_BOOKKEEPING}
    IF TG_OP = 'DELETE' THEN
        row_data := to_jsonb(OLD);
    ELSE
        row_data := to_jsonb(NEW);
    END IF;
    EXECUTE format(
        'INSERT INTO %I.compliance_governedchange (table_name, row_id, operation, txid, actor, at) '
        'VALUES ($1, $2, $3, txid_current(), $4, clock_timestamp())',
        TG_TABLE_SCHEMA
    ) USING TG_TABLE_NAME, coalesce(row_data ->> TG_ARGV[0], ''), TG_OP,
            coalesce(current_setting('metaqore.actor', true), '');
    RETURN NULL;
END
$journal$;

CREATE OR REPLACE FUNCTION {NO_TRUNCATE_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $trunc$
BEGIN
    RAISE EXCEPTION 'metaqore: %.% is governed and cannot be truncated',
        TG_TABLE_SCHEMA, TG_TABLE_NAME USING ERRCODE = '42501';
END
$trunc$;
"""  # noqa: S608

DROP_FUNCTIONS_SQL = "; ".join(
    f"DROP FUNCTION IF EXISTS {name}()"
    for name in (GUARD_FUNCTION, JOURNAL_FUNCTION, NO_TRUNCATE_FUNCTION)
)


def guards_install() -> migrations.RunSQL:
    """The trigger functions, in the schema being migrated (compliance's migration)."""
    return migrations.RunSQL(FUNCTIONS_SQL, DROP_FUNCTIONS_SQL)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def govern_table(
    table: str, *, pk: str = "id", bookkeeping_columns: Iterable[str] = ()
) -> migrations.RunSQL:
    """Guard ``table`` (see the module docstring). ``bookkeeping_columns``: the columns whose
    changes alone are exempt; the same as the model's classification in the registry."""
    args = ", ".join(_literal(name) for name in (pk, *bookkeeping_columns))
    quoted = _ident(table)
    # Pending deferred checks (foreign keys of rows written earlier in this transaction) forbid
    # adding triggers to the table: run them first, then defer again (Django's default).
    sql = f"""
        SET CONSTRAINTS ALL IMMEDIATE;
        SET CONSTRAINTS ALL DEFERRED;
        CREATE CONSTRAINT TRIGGER metaqore_guard
            AFTER INSERT OR UPDATE OR DELETE ON {quoted}
            DEFERRABLE INITIALLY DEFERRED
            FOR EACH ROW EXECUTE FUNCTION {GUARD_FUNCTION}({args});
        CREATE TRIGGER metaqore_journal
            AFTER INSERT OR UPDATE OR DELETE ON {quoted}
            FOR EACH ROW EXECUTE FUNCTION {JOURNAL_FUNCTION}({args});
        CREATE TRIGGER metaqore_no_truncate
            BEFORE TRUNCATE ON {quoted}
            FOR EACH STATEMENT EXECUTE FUNCTION {NO_TRUNCATE_FUNCTION}();
    """
    reverse = "; ".join(f"DROP TRIGGER IF EXISTS {name} ON {quoted}" for name in TRIGGERS)
    return migrations.RunSQL(sql, reverse)
