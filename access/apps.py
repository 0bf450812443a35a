from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccessConfig(AppConfig):
    """Who is calling and what they may do: agents and keys, users' roles, authentication,
    permissions and rate limits. The bottom of the apps: it imports none of them."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "access"

    def ready(self) -> None:
        from access import receivers
        from access.api import schema  # noqa: F401  (registers the OpenAPI auth schemes)
        from access.role_permissions import role_permissions_after_migrate

        post_migrate.connect(role_permissions_after_migrate, sender=self)
        receivers.connect()
        key_changes_void_the_resolution_cache()


def key_changes_void_the_resolution_cache() -> None:
    from access.models import Agent, AgentKey
    from metaqore_site.database import tenant_connection
    from metaqore_site.resolution_cache import invalidate_on_change

    for model in (Agent, AgentKey):
        invalidate_on_change(model, lambda: f"key:{tenant_connection.schema_name}")
