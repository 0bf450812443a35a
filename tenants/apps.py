from collections.abc import Callable
from typing import Any

from django.apps import AppConfig


class TenantsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "tenants"
    verbose_name = "Organizations"

    def ready(self) -> None:
        # pgtrigger (ready before us) swaps Django's migrate/makemigrations autodetector for one
        # that knows triggers; django-tenants' migrate command must use the same one.
        from django.core.management.commands import migrate
        from django_tenants.management.commands.migrate_schemas import MigrateSchemasCommand
        from django_tenants.migration_executors import multiproc

        MigrateSchemasCommand.autodetector = migrate.Command.autodetector
        multiproc.get_pool = _after_closing_connection_pools(multiproc.get_pool)


def _after_closing_connection_pools(get_pool: Callable[[], Any]) -> Callable[[], Any]:
    """`migrate_schemas --executor=multiprocessing` forks its workers after closing the
    connection, but a psycopg connection pool (METAQORE_DB_POOL) keeps its sockets open: the
    forked workers would talk over the same sockets and hang. Close the pools before the fork;
    each worker opens its own."""

    def get_pool_after_closing_connection_pools() -> Any:
        from django.db import connections

        for connection in connections.all(initialized_only=True):
            if connection.alias in getattr(connection, "_connection_pools", {}):
                connection.close_pool()
        return get_pool()

    return get_pool_after_closing_connection_pools
