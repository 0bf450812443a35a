"""ASGI entry point: Django for HTTP (the SSE stream included), Channels for WebSockets.

Production: ``gunicorn metaqore_site.asgi:application -k uvicorn_worker.UvicornWorker``
(see gunicorn.conf.py); development: ``make run`` (uvicorn with --reload).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "metaqore_site.settings")
django_application = get_asgi_application()  # sets Django up before the imports below

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from compliance.websocket import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {"http": django_application, "websocket": URLRouter(websocket_urlpatterns)}
)
