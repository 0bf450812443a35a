"""The API server: Granian (a Rust HTTP server) running Django's WSGI handler.

    python -m metaqore_site.api_server          # bin/entrypoint.sh api

It serves every plain HTTP request: the REST API, the dashboard, the admin and static files.
The long-lived streams (``/api/v1/events/stream``, WebSockets, ``/mcp``) need ASGI and are
served by the all-in-one server (``bin/entrypoint.sh web``: gunicorn with uvicorn workers,
metaqore_site/asgi.py); here they answer 501. A path-routing proxy in front sends those paths
there and everything else here (docs/DEPLOYMENT.md, "Two process types").

Why a second server: a request served by Granian's WSGI workers skips uvicorn's Python HTTP
protocol, the ASGI scope and the hand-off between the event loop and a thread, which cost
about as much server CPU as Django itself on a small request. Measured side by side (README
"Performance"): health +30 to 50 %, an authenticated read +35 to 40 %, a declaration +20 %.

Environment:

- ``WEB_CONCURRENCY``: worker processes (default: one per CPU core; more only adds switching);
- ``METAQORE_WSGI_THREADS`` (4 here, 8 under uvicorn): threads per worker running requests
  (more measured slower: they contend for the GIL); each holds at most one
  pooled database connection while it answers;
- ``PORT`` / ``METAQORE_PORT`` (8001) and ``METAQORE_BIND`` (0.0.0.0);
- ``FORWARDED_ALLOW_IPS`` (127.0.0.1): proxies whose ``X-Forwarded-For`` is trusted
  (metaqore_site/wsgi.py);
- ``PROMETHEUS_MULTIPROC_DIR``: where workers share their metrics (default: a fresh temporary
  directory, removed on exit), so ``/metrics`` on any worker reports the sum.

This module does not import Django: the workers do, each on its own.
"""

from __future__ import annotations

import os

from granian import Granian
from granian.constants import Interfaces

from metaqore_site.metrics_directory import (
    metrics_directory_create,
    metrics_directory_empty,
    metrics_directory_remove,
)


def server_build() -> Granian:
    """The Granian server as the environment configures it (see the module docstring)."""
    port = os.environ.get("PORT") or os.environ.get("METAQORE_PORT") or "8001"
    return Granian(
        "metaqore_site.wsgi:application",
        address=os.environ.get("METAQORE_BIND", "0.0.0.0"),  # noqa: S104 (containers)
        port=int(port),
        interface=Interfaces.WSGI,
        workers=int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 1),
        blocking_threads=int(os.environ.get("METAQORE_WSGI_THREADS") or 4),
        log_access=True,
        respawn_failed_workers=True,
        workers_kill_timeout=10,  # as gunicorn.conf.py's graceful_timeout
    )


def main() -> None:
    created = None if os.environ.get("PROMETHEUS_MULTIPROC_DIR") else metrics_directory_create()
    metrics_directory_empty()
    try:
        server_build().serve()
    finally:
        metrics_directory_remove(created)


if __name__ == "__main__":
    main()
