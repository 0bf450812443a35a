from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "governance"

    def ready(self) -> None:
        from governance import signals  # noqa: F401  (audits ORM writes of agent keys)
        from governance.api import schema  # noqa: F401  (registers OpenAPI auth schemes)
        from governance.specialists import signals as _hmcp  # noqa: F401  (HMCP ORM writes)
