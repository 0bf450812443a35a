"""ASGI entry point: uvicorn workers serve the whole API, the event stream and WebSockets.

Production: ``gunicorn metaqore_site.asgi:application -k uvicorn_worker.UvicornWorker``
(see gunicorn.conf.py); development: ``make run`` (uvicorn with --reload).

Only the live event stream is asynchronous code; every other view is synchronous (DRF).
Django's ASGI handler runs a synchronous request in a fresh thread per request and crosses
between the event loop and threads several times around the middleware, which cost most of
the CPU of a small request (and a DB connection per new thread). So plain HTTP goes to
Django's WSGI handler on a fixed pool of threads (metaqore_site.wsgi_bridge): one hand-off
per request, threads and their pooled connections reused. ``/api/v1/events/stream`` (SSE)
stays on the ASGI handler, and Channels serves WebSockets. ``/mcp`` is the MCP server
(metaqore_mcp), whose tools call the API in process.
"""

import os

from django.core.asgi import get_asgi_application
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "metaqore_site.settings")
django_asgi_application = get_asgi_application()  # sets Django up before the imports below

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from events.websocket import websocket_urlpatterns  # noqa: E402
from metaqore_mcp import MCP_PATHS  # noqa: E402
from metaqore_mcp.http import McpHttpApp  # noqa: E402
from metaqore_site.heap import freeze_loaded_heap  # noqa: E402
from metaqore_site.wsgi_bridge import WsgiBridge  # noqa: E402

# Paths answered by asynchronous views (long-lived streams): they need the ASGI handler.
ASYNC_PATH_PREFIXES = ("/api/v1/events/",)

django_wsgi_application = WsgiBridge(
    get_wsgi_application(),
    threads=settings.METAQORE_WSGI_THREADS,
    body_limit=settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
)


# The MCP server (Streamable HTTP): its tools call the API above in process.
mcp_application = McpHttpApp(django_wsgi_application)


async def http_application(scope, receive, send) -> None:
    if scope["path"] in MCP_PATHS:
        await mcp_application(scope, receive, send)
    elif scope["path"].startswith(ASYNC_PATH_PREFIXES):
        await django_asgi_application(scope, receive, send)
    else:
        await django_wsgi_application(scope, receive, send)


application = ProtocolTypeRouter(
    {"http": http_application, "websocket": URLRouter(websocket_urlpatterns)}
)
freeze_loaded_heap()  # last: everything above is loaded (metaqore_site.heap says why)
