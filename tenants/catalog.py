"""What a schema holds, read from the PostgreSQL catalog, in a form two schemas can be compared
in: provisioning checks a cloned organization against the template it was cloned from, and the
tests check a clone against a schema migrated from scratch.

Every definition is printed by PostgreSQL with the connection outside both schemas, so a
reference into any schema comes out qualified; the schema's own name is then stripped. A clone
whose foreign key, default, trigger or function still pointed into the template would therefore
differ from the template instead of looking identical.
"""

from __future__ import annotations

import re
from typing import Any

from django.db import connection
from psycopg import sql

# kind -> query returning one row per object; %(schema)s is the schema name.
_QUERIES: dict[str, str] = {
    "relation": """
        SELECT c.relname, c.relkind, c.relpersistence, obj_description(c.oid, 'pg_class')
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
    """,
    # Position among live columns: a clone has no holes left by dropped columns.
    "column": """
        SELECT c.relname, a.attname,
               row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum),
               format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attidentity,
               a.attgenerated, pg_get_expr(d.adbin, d.adrelid), col_description(c.oid, a.attnum)
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
          AND a.attnum > 0 AND NOT a.attisdropped
    """,
    "index": """
        SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = %(schema)s
    """,
    "constraint": """
        SELECT c.relname, co.conname, co.contype, pg_get_constraintdef(co.oid),
               co.condeferrable, co.condeferred, co.convalidated
        FROM pg_constraint co
        JOIN pg_class c ON c.oid = co.conrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %(schema)s
    """,
    "trigger": """
        SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid), t.tgenabled,
               obj_description(t.oid, 'pg_trigger')
        FROM pg_trigger t
        JOIN pg_class c ON c.oid = t.tgrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %(schema)s AND NOT t.tgisinternal
    """,
    "function": """
        SELECT p.proname, pg_get_function_identity_arguments(p.oid), pg_get_functiondef(p.oid)
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = %(schema)s AND p.prokind IN ('f', 'p')
    """,
    # Which column owns each sequence: an identity or serial column of this schema's table.
    "sequence": """
        SELECT s.relname, format_type(q.seqtypid, NULL), q.seqstart, q.seqincrement,
               q.seqmin, q.seqmax, q.seqcycle, owner.relname, a.attname
        FROM pg_class s
        JOIN pg_namespace n ON n.oid = s.relnamespace
        JOIN pg_sequence q ON q.seqrelid = s.oid
        LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid
             AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
        LEFT JOIN pg_class owner ON owner.oid = d.refobjid
        LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
        WHERE n.nspname = %(schema)s AND s.relkind = 'S'
    """,
}

# PostgreSQL prints a trigger's WHEN clause from its parse tree, and re-parsing that text (which
# is how a clone gets its triggers) can move casts inside an array: the same condition printed
# as `(ARRAY['a'::varchar])::text[]` before and `ARRAY[('a'::varchar)::text]` after. Casts and
# parentheses are dropped from trigger definitions before comparing; the tests prove the
# conditions behave the same.
_CAST = re.compile(
    r"::(?:character varying|double precision|timestamp with time zone|\"?[a-z_][a-z0-9_]*\"?)"
    r"(?:\[\])?"
)

_PUNCTUATION_SPACE = re.compile(r"\s*([\[\],])\s*")


def schema_catalog(schema_name: str) -> dict[str, set[tuple[Any, ...]]]:
    """Tables, columns, indexes, constraints, triggers, functions and sequences of
    ``schema_name``, each kind a set of tuples with the schema's own name stripped."""
    catalog: dict[str, set[tuple[Any, ...]]] = {}
    with connection.cursor() as cursor:
        for kind, query in _QUERIES.items():
            cursor.execute(query, {"schema": schema_name})
            catalog[kind] = {
                tuple(_unqualified(value, schema_name, kind) for value in row)
                for row in cursor.fetchall()
            }
    return catalog


def schema_row_counts(schema_name: str) -> dict[str, int]:
    """Rows per table of ``schema_name`` (what data migrations seeded in a new schema)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %s AND c.relkind IN ('r', 'p') ORDER BY c.relname
            """,
            [schema_name],
        )
        tables = [row[0] for row in cursor.fetchall()]
        if not tables:
            return {}
        counts = sql.SQL(" UNION ALL ").join(
            sql.SQL("SELECT {}, count(*) FROM {}").format(
                sql.Literal(table), sql.Identifier(schema_name, table)
            )
            for table in tables
        )
        cursor.execute(counts.as_string(connection.connection))
        return dict(cursor.fetchall())


def catalog_differences(
    left: dict[str, set[tuple[Any, ...]]], right: dict[str, set[tuple[Any, ...]]]
) -> list[str]:
    """Human-readable lines for every object that is in one catalog and not the other."""
    lines = []
    for kind in sorted(set(left) | set(right)):
        for row in sorted(left.get(kind, set()) - right.get(kind, set()), key=repr):
            lines.append(f"{kind} only on the left: {row}")
        for row in sorted(right.get(kind, set()) - left.get(kind, set()), key=repr):
            lines.append(f"{kind} only on the right: {row}")
    return lines


def _unqualified(value: Any, schema_name: str, kind: str) -> Any:
    if not isinstance(value, str):
        return value
    text = value.replace(f'"{schema_name}".', "").replace(f"{schema_name}.", "")
    if kind == "trigger":
        text = " ".join(_CAST.sub("", text).replace("(", " ").replace(")", " ").split())
        text = _PUNCTUATION_SPACE.sub(r"\1", text)
    return text
