"""``/api/v1/events/stream`` (SSE) and ``/api/v1/webhooks/``. The WebSocket endpoint
``/api/v1/events/ws`` is routed by the ASGI application (events.websocket)."""

from django.urls import re_path

from events.api.events import event_stream
from events.api.webhooks import WebhookViewSet
from metaqore_site.api.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("webhooks", WebhookViewSet, basename="webhook")

urlpatterns = [
    re_path(r"^events/stream/?$", event_stream, name="events-stream"),
    *router.urls,
]
