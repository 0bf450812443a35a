from django.apps import AppConfig


class EventsConfig(AppConfig):
    """Live events (SSE, WebSocket, the LISTEN/NOTIFY listener), webhooks and their delivery."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "events"

    def ready(self) -> None:
        from events import signals  # noqa: F401  (audits ORM writes of webhooks)
        from events.metrics import DeliveryCollector
        from metaqore_site.metrics import register_org_collector

        register_org_collector(DeliveryCollector())
