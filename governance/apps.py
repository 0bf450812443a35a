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
