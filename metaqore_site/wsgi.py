"""WSGI entry point: the API server (metaqore_site.api_server, Granian) and any WSGI server.

Two things a WSGI server does not do that the ASGI one (uvicorn, metaqore_site/asgi.py) does:

- ``X-Forwarded-For`` from a trusted proxy (``FORWARDED_ALLOW_IPS``, the variable uvicorn and
  gunicorn read, default 127.0.0.1) becomes ``REMOTE_ADDR``: rate limits count the client,
  not the proxy. From any other peer the header is ignored, so a client cannot pick its own
  address.
- ``/mcp`` (Streamable HTTP) needs the ASGI server: it answers 501 here, as the event stream
  does (events/api/events.py), instead of a 404 that would look like a wrong URL.
"""

import json
import os
from collections.abc import Callable, Iterable

from django.core.wsgi import get_wsgi_application
from granian.utils.proxies import wrap_wsgi_with_proxy_headers

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "metaqore_site.settings")
django_application = get_wsgi_application()

from metaqore_mcp import MCP_PATHS  # noqa: E402 (the package alone: no MCP SDK)
from metaqore_site.heap import freeze_loaded_heap  # noqa: E402 (needs Django set up)

_ASGI_ONLY_BODY = json.dumps(
    {"detail": "MCP (Streamable HTTP) needs the ASGI server (bin/entrypoint.sh web)."}
).encode()


def _asgi_only_or_django(environ: dict, start_response: Callable) -> Iterable[bytes]:
    if environ.get("PATH_INFO") in MCP_PATHS:
        start_response(
            "501 Not Implemented",
            [("Content-Type", "application/json"), ("Content-Length", str(len(_ASGI_ONLY_BODY)))],
        )
        return [_ASGI_ONLY_BODY]
    return django_application(environ, start_response)


application = wrap_wsgi_with_proxy_headers(
    _asgi_only_or_django, trusted_hosts=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
)

freeze_loaded_heap()  # metaqore_site.heap says why
