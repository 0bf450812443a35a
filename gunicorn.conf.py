"""gunicorn settings for production: ``gunicorn metaqore_site.asgi:application`` (gunicorn reads
this file from the working directory; ``-c gunicorn.conf.py`` says so explicitly).

Uvicorn workers serve HTTP, the SSE stream and WebSockets (ASGI). Environment:

- ``WEB_CONCURRENCY``: worker processes (default 2 x CPU cores);
- ``PORT`` / ``METAQORE_PORT`` (default 8001) and ``METAQORE_BIND`` (default 0.0.0.0);
- ``PROMETHEUS_MULTIPROC_DIR``: where workers share their metrics (default: a fresh temporary
  directory, removed on exit). Every worker writes its counters there and ``/metrics`` on any
  worker reports the sum, so a scrape does not depend on which worker answers it;
- ``METAQORE_CONTROL_SOCKET``: the control socket of ``gunicornc`` (default: one per instance,
  ``$TMPDIR/metaqore-gunicorn-<uid>/<master pid>.ctl``; gunicorn's own default is one path per
  user, so a second instance on the machine would take over the first one's socket).

Command-line options override these (the tests run ``--workers 1 --bind 127.0.0.1:<port>``).
"""

import multiprocessing
import os
import sys
import tempfile
from pathlib import Path

# The project's modules, also when gunicorn is started by its script from another directory.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from metaqore_site.metrics_directory import (
    metrics_directory_create,
    metrics_directory_empty,
    metrics_directory_remove,
)

worker_class = "uvicorn_worker.UvicornWorker"
workers = int(os.environ.get("WEB_CONCURRENCY") or 2 * multiprocessing.cpu_count())
bind = (
    f"{os.environ.get('METAQORE_BIND', '0.0.0.0')}:"  # noqa: S104 (containers listen on all)
    f"{os.environ.get('PORT') or os.environ.get('METAQORE_PORT') or 8001}"
)
# Each worker listens on its own SO_REUSEPORT socket, so the kernel spreads new connections over
# the workers. On one shared socket, the first worker to wake accepts a whole burst of
# keep-alive connections and serves them all while the others idle (seen in bench/run.py).
reuse_port = True
# Idle keep-alive connections stay open this long (gunicorn's default is 2 s). It must outlast
# the idle timeout of the proxy or client pool in front (60 s on common load balancers):
# otherwise a client may send on a connection the server is closing and get a reset.
keepalive = 75
graceful_timeout = 10  # open event streams end; their clients resume with Last-Event-ID
accesslog = "-"

_CONTROL_DIR = Path(tempfile.gettempdir()) / f"metaqore-gunicorn-{os.getuid()}"


def _instance_control_socket() -> str:
    """A control socket path of this instance (the master evaluates this file), after removing
    the sockets of masters that are gone."""
    _CONTROL_DIR.mkdir(mode=0o700, exist_ok=True)
    for stale in _CONTROL_DIR.glob("*.ctl"):
        gone = Path("/proc/self").exists() and not Path(f"/proc/{stale.stem}").exists()
        if stale.stem.isdigit() and gone:
            stale.unlink(missing_ok=True)
    return str(_CONTROL_DIR / f"{os.getpid()}.ctl")


control_socket = os.environ.get("METAQORE_CONTROL_SOCKET") or _instance_control_socket()

# Set before the workers import prometheus_client: they inherit it when forked.
_created_metrics_dir = (
    None if os.environ.get("PROMETHEUS_MULTIPROC_DIR") else metrics_directory_create()
)


def on_starting(server):
    metrics_directory_empty()


def child_exit(server, worker):
    """A dead worker's live gauges (connected stream clients) stop counting."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    metrics_directory_remove(_created_metrics_dir)
