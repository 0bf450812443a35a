import os

from django.apps import AppConfig
from django.db.models.signals import post_migrate

from metaqore_site import checks, db_roles  # noqa: F401  (checks registers itself)
from metaqore_site.database import close_connection_pools


class TenantsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "tenants"
    verbose_name = "Organizations"

    def ready(self) -> None:
        # pgtrigger (ready before us) swaps Django's migrate/makemigrations autodetector for one
        # that knows triggers; django-tenants' migrate command must use the same one.
        from django.core.management.commands import migrate
        from django_tenants.management.commands.migrate_schemas import MigrateSchemasCommand

        MigrateSchemasCommand.autodetector = migrate.Command.autodetector
        # A forked child (e.g. `migrate_schemas --executor=multiprocessing`) would inherit the
        # psycopg pool's open sockets and talk over them with its parent: both hang. Close the
        # pools before any fork; each process opens its own.
        os.register_at_fork(before=close_connection_pools)
        # After every migrate of every schema (once: this app's signal): the runtime role's
        # privileges and triggers no session can switch off (metaqore_site.db_roles).
        post_migrate.connect(db_roles.after_migrate, sender=self, dispatch_uid="db-roles")
        # This process's own org and domain changes void its resolution cache on commit.
        from metaqore_site.resolution_cache import invalidate_on_change
        from tenants.models import Domain, Organization

        for model in (Organization, Domain):
            invalidate_on_change(model, lambda: "org")
