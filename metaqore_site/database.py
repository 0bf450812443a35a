"""The ``default`` database: ``DATABASE_URL`` when set, else the embedded PostgreSQL.

Two database roles (README "Security"): migrations and provisioning run as the **owner** of
the tables; the server, workers and every other command connect as the **runtime** role, which
has only the privileges ``metaqore_site.db_roles`` grants (no superuser, not the tables' owner,
so it cannot disable or drop a trigger). :func:`process_role` tells which one this process is:

- ``METAQORE_DB_ROLE=owner|runtime`` when set;
- otherwise ``owner`` for pytest and for ``manage.py`` owner commands (OWNER_COMMANDS), and
  ``runtime`` for everything else (servers, workers, other commands, scripts).

With ``DATABASE_URL``: the runtime role is its user; the owner connects with
``DATABASE_OWNER_URL`` (unset: the same URL, and ``check --deploy`` warns). Embedded: the owner
is the cluster's superuser ``postgres``, the runtime role ``metaqore_app`` (LOGIN NOSUPERUSER),
created when the embedded server starts.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Protocol, cast

import dj_database_url
from django.db import connection

# django-tenants' backend, two round trips per request lighter (see its docstring).
ENGINE = "metaqore_site.postgresql_backend"


class TenantConnection(Protocol):
    """What django-tenants' backend adds to ``django.db.connection`` (the stubs know only
    Django's ``BaseDatabaseWrapper``)."""

    schema_name: str
    tenant: Any  # an Organization, or django-tenants' FakeTenant (only ``schema_name``)

    def set_tenant(self, tenant: Any, include_public: bool = True) -> None: ...

    def set_schema(
        self, schema_name: str, include_public: bool = True, tenant_type: str | None = None
    ) -> None: ...

    def set_schema_to_public(self) -> None: ...

    def forget_search_path(self) -> None: ...


class _PooledConnection(Protocol):
    def close_pool(self) -> None: ...


# ``connection`` proxies the current thread's connection, and so does this: the same object,
# typed with the attributes of the django-tenants backend (ENGINE).
tenant_connection = cast(TenantConnection, connection)


OWNER_COMMANDS = frozenset(
    {"migrate", "migrate_schemas", "create_org", "demo_setup", "sqlmigrate", "flush", "test"}
)
EMBEDDED_RUNTIME_ROLE = "metaqore_app"


def process_role() -> str:
    """``"owner"`` or ``"runtime"``: which database role this process connects as."""
    explicit = os.environ.get("METAQORE_DB_ROLE", "").strip().lower()
    if explicit in ("owner", "runtime"):
        return explicit
    if explicit:
        raise ValueError("METAQORE_DB_ROLE must be 'owner' or 'runtime'")
    if "pytest" in sys.modules:
        return "owner"
    argv = sys.argv or [""]
    if os.path.basename(argv[0]) == "manage.py":
        return "owner" if argv[1:2] and argv[1] in OWNER_COMMANDS else "runtime"
    return "runtime"


def runtime_role_name() -> str:
    """The runtime role that ``db_roles`` grants to (the user of ``DATABASE_URL``)."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        return EMBEDDED_RUNTIME_ROLE
    return str(dj_database_url.parse(url).get("USER") or "")


def database_settings() -> dict[str, Any]:
    url = os.environ.get("DATABASE_URL", "").strip()
    if url and process_role() == "owner":
        url = os.environ.get("DATABASE_OWNER_URL", "").strip() or url
    pool = pool_options()
    # With the pool, Django hands the connection back at the end of each request. Without it,
    # 0 means one connection per request: under ASGI, Django closes a persistent connection
    # only in the thread that opened it, so CONN_MAX_AGE > 0 leaks one per worker thread.
    conn_max_age = 0 if pool else int(os.environ.get("METAQORE_CONN_MAX_AGE", "0"))
    if url:
        config = cast(
            dict[str, Any],
            dj_database_url.parse(url, conn_max_age=conn_max_age, conn_health_checks=not pool),
        )
        if not config.get("ENGINE", "").endswith(("postgresql", "postgis", "postgresql_backend")):
            raise ValueError("DATABASE_URL must point at PostgreSQL (schemas per organization)")
        config["ENGINE"] = ENGINE
        config["TEST"] = {"NAME": _test_database_name(f"test_{config['NAME']}")}
        if pool:
            config.setdefault("OPTIONS", {})["pool"] = pool
        return config

    from metaqore_site import embedded_db

    if os.environ.get("METAQORE_EMBEDDED_NO_START"):
        # `manage.py embedded_db status|stop` inspects the server: loading the settings must
        # not start it. Nothing connects in those commands; the values only fill the dict.
        info = embedded_db.ConnectionInfo(
            host=str(embedded_db.default_data_dir() / "pg"),
            port=5432,
            user="postgres",
            pid=0,
            pgdata=embedded_db.default_data_dir() / "pg",
        )
    else:
        info = embedded_db.ensure_running()
    # HOST is the socket directory: psycopg connects over the Unix socket, no TCP port is open.
    return {
        "ENGINE": ENGINE,
        "NAME": embedded_db.DATABASE_NAME,
        "USER": info.user if process_role() == "owner" else EMBEDDED_RUNTIME_ROLE,
        "PASSWORD": "",
        "HOST": info.host,
        "PORT": str(info.port),
        "CONN_MAX_AGE": conn_max_age,
        # Pooled connections are checked by the pool (ENGINE's ``idle_connection_check``).
        "CONN_HEALTH_CHECKS": not pool,
        "OPTIONS": {"pool": pool} if pool else {},
        "TEST": {"NAME": _test_database_name(f"test_{embedded_db.DATABASE_NAME}")},
    }


def pool_options() -> dict[str, Any] | None:
    """Django's psycopg connection pool, per process (``METAQORE_DB_POOL``, on by default).

    A new PostgreSQL connection costs a backend fork and its setup on every request; the pool
    keeps ``min_size`` open and lends one to each request (or thread) for its duration.
    ``max_size`` bounds what one process may hold: workers x max_size must stay below the
    server's max_connections (or PgBouncer's pool).
    """
    if os.environ.get("METAQORE_DB_POOL", "true").strip().lower() in {"0", "false", "no", "off"}:
        return None
    return {
        "min_size": int(os.environ.get("METAQORE_DB_POOL_MIN_SIZE", "2")),
        "max_size": int(os.environ.get("METAQORE_DB_POOL_MAX_SIZE", "16")),
        # A request waits this long for a free connection before failing (503 from health).
        "timeout": float(os.environ.get("METAQORE_DB_POOL_TIMEOUT", "10")),
    }


def _test_database_name(default: str) -> str:
    # Lets two test runs share one server without dropping each other's database.
    return os.environ.get("METAQORE_TEST_DB_NAME", "").strip() or default


def close_connection_pools() -> None:
    """Close this process's database connection pools (they reopen on the next query)."""
    from django.db import connections

    for wrapper in connections.all(initialized_only=True):
        if wrapper.alias in getattr(wrapper, "_connection_pools", {}):
            cast(_PooledConnection, wrapper).close_pool()  # PostgreSQL backend; not in the stubs
