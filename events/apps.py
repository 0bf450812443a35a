from django.apps import AppConfig


class EventsConfig(AppConfig):
    """Live events (SSE, WebSocket, the LISTEN/NOTIFY listener), webhooks and their delivery."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "events"

    def ready(self) -> None:
        from compliance.audit import on_audit_event
        from events import signals  # noqa: F401  (audits ORM writes of webhooks)
        from events.events import is_streamed
        from events.metrics import DeliveryCollector
        from events.tasks import ACTIVE_WEBHOOKS_SQL, deliveries_queue
        from metaqore_site.metrics import register_org_collector

        register_org_collector(DeliveryCollector())
        # Live events become webhook deliveries (and their jobs) in the event's transaction.
        on_audit_event(deliveries_queue, read_sql=ACTIVE_WEBHOOKS_SQL, applies=is_streamed)
