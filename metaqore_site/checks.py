"""``manage.py check --deploy``: the runtime database role must be least-privileged.

``check`` connects as the runtime role (metaqore_site.database.process_role), like the
server. A superuser could turn every trigger off (``session_replication_role``), and the
tables' owner could disable or drop them: both defeat the guards (README "Security").
"""

from __future__ import annotations

from typing import Any

import psycopg
from django.core.checks import Tags, Warning, register
from django.db import connection

ROLE_SQL = "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user"
OWNED_TABLES_SQL = (
    "SELECT count(*) FROM pg_tables WHERE tableowner = current_user "
    "AND schemaname NOT IN ('pg_catalog', 'information_schema')"
)
ROLES_HINT = (
    "Connect the server with a role that is neither superuser nor owner (DATABASE_URL) and "
    "migrate with the owner (DATABASE_OWNER_URL); see README 'Security'."
)


@register(Tags.security, deploy=True)
def database_runtime_role_check(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    # One direct connection, not the pool: an unreachable database must not leave a pool
    # retrying (and logging) in the background of a command that only checks settings.
    params = connection.get_connection_params()
    try:
        with psycopg.connect(connect_timeout=5, **params) as direct, direct.cursor() as cursor:
            cursor.execute(ROLE_SQL)
            user, superuser = cursor.fetchone()
            cursor.execute(OWNED_TABLES_SQL)
            (owned,) = cursor.fetchone()
    except psycopg.Error:
        return []  # nothing to tell without a database (other checks cover the settings)
    warnings = []
    if superuser:
        warnings.append(
            Warning(
                f"The runtime database role '{user}' is a superuser: it can switch the "
                "database guards off (session_replication_role, triggers).",
                hint=ROLES_HINT,
                id="metaqore.W001",
            )
        )
    if owned:
        warnings.append(
            Warning(
                f"The runtime database role '{user}' owns {owned} tables: it can disable or "
                "drop their triggers.",
                hint=ROLES_HINT,
                id="metaqore.W002",
            )
        )
    return warnings
