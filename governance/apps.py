from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    """The org's policy (modes), provider routing, conflict resolution and reports."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "governance"

    def ready(self) -> None:
        from governance import signals  # noqa: F401  (audits ORM writes of policy and providers)
        from governance.metrics import RoutingCollector
        from metaqore_site.metrics import register_org_collector

        register_org_collector(RoutingCollector())
        policy_changes_void_the_resolution_cache()


def policy_changes_void_the_resolution_cache() -> None:
    from governance.models import GovernancePolicy
    from metaqore_site.database import tenant_connection
    from metaqore_site.resolution_cache import invalidate_on_change

    invalidate_on_change(GovernancePolicy, lambda: f"policy:{tenant_connection.schema_name}")
