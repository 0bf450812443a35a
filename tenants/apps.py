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

        MigrateSchemasCommand.autodetector = migrate.Command.autodetector
