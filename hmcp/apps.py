from django.apps import AppConfig


class HmcpConfig(AppConfig):
    """HMCP: the skill registry, the hierarchy policy, specialists and their training jobs.

    Specialists are artifacts too: HMCP plugs its conflict check and its activation rule into
    the artifacts registries here, and follows artifact state changes through a signal."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "hmcp"
    verbose_name = "HMCP"

    def ready(self) -> None:
        from hmcp import checks, signals  # noqa: F401  (registry hooks and audit receivers)
