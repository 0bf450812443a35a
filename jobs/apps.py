from django.apps import AppConfig


class JobsConfig(AppConfig):
    """Background work on Procrastinate: the task registration API, the worker command, the
    stalled-job recovery and the views of the queue that the dashboard and metrics use."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "jobs"
    verbose_name = "Background jobs"

    def ready(self) -> None:
        from jobs import signals  # noqa: F401  (cancels a deleted org's waiting jobs)
        from jobs.metrics import OrgJobsCollector, QueueCollector
        from metaqore_site.metrics import register_org_collector, register_platform_collector

        register_org_collector(OrgJobsCollector())
        register_platform_collector(QueueCollector())
