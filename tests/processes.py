"""Helpers for tests that run `manage.py` or a web server in a real subprocess."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import Message
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent


def _port_range(text: str) -> range:
    first, _, last = text.partition("-")
    return range(int(first), int(last or first) + 1)


# The range these tests may use for their servers; METAQORE_TEST_PORTS="8601-8699" gives a
# concurrent test run a range of its own.
PORTS = _port_range(os.environ.get("METAQORE_TEST_PORTS", "8101-8199"))


def database_url(settings_dict: dict) -> str:
    """A DATABASE_URL for the database described by a Django ``settings_dict``.

    A socket directory as HOST is percent-encoded, which dj-database-url turns back into HOST.
    """
    user = quote(settings_dict["USER"] or "", safe="")
    password = quote(settings_dict["PASSWORD"] or "", safe="")
    credentials = f"{user}:{password}@" if password else f"{user}@"
    host = quote(settings_dict["HOST"] or "", safe="")
    port = settings_dict["PORT"] or "5432"
    return f"postgresql://{credentials}{host}:{port}/{settings_dict['NAME']}"


def subprocess_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(overrides)
    return env


def manage(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    # Random order: test runs that share the machine (parallel sessions) rarely collide on
    # a port between our bind check and the server's own bind.
    for port in random.sample(PORTS, len(PORTS)):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


def server_command(kind: str, port: int) -> list[str]:
    if kind == "runserver":
        return [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
    if kind == "api":  # production's API server (Granian, WSGI); running_server sets its port
        return [sys.executable, "-m", "metaqore_site.api_server"]
    # Production's stack: gunicorn with a uvicorn (ASGI) worker. It starts without touching
    # the database, where runserver's startup checks refuse to start when it is down.
    return [
        sys.executable, "-m", "gunicorn", "metaqore_site.asgi:application",
        "--worker-class", "uvicorn_worker.UvicornWorker", "--workers", "1",
        "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
    ]  # fmt: skip


@contextlib.contextmanager
def running_server(
    env: dict[str, str], kind: str = "runserver", timeout: float = 30, log: Path | None = None
) -> Iterator[str]:
    """Serve the project (``runserver``, ``gunicorn`` or ``api``) on a free port; yield its
    base URL. The API server runs ``WEB_CONCURRENCY`` workers from ``env`` (default 1).

    The server's stderr (request lines, tracebacks) goes to ``log`` when given: a pipe nobody
    reads would block a chatty server. The server is killed at the end, whatever happens in
    the ``with`` block.
    """
    port = free_port()
    if kind == "api":
        env = {"WEB_CONCURRENCY": "1", **env, "PORT": str(port), "METAQORE_BIND": "127.0.0.1"}
    stderr = open(log, "w+") if log else subprocess.PIPE  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        server_command(kind, port),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        text=True,
        start_new_session=True,
    )
    stderr = proc.stderr or stderr
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                if log:
                    stderr.seek(0)
                raise RuntimeError(f"{kind} exited early:\n{stderr.read()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{kind} did not start in time") from None
                time.sleep(0.05)
        _wait_until_answering(port, deadline, kind)
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):  # it may have exited on its own
            os.killpg(proc.pid, signal.SIGKILL)  # the server and its workers
        proc.wait(timeout=10)
        stderr.close()


def _wait_until_answering(port: int, deadline: float, kind: str) -> None:
    """gunicorn's master accepts connections before its worker has imported the project
    (seconds on a loaded machine: the MCP SDK builds its pydantic models at import), so wait
    for a first HTTP answer, whatever its status (a server started with the database down
    answers 503, once the pool gives up), before a test times its own requests."""
    while True:
        # A slow answer counts (with the database down it takes the pool's timeout)
        connection = HTTPConnection(
            "127.0.0.1", port, timeout=max(1.0, deadline - time.monotonic())
        )
        try:
            connection.request("GET", "/api/v1/health/")
            connection.getresponse().read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{kind} accepted connections but never answered") from None
            time.sleep(0.1)
        finally:
            connection.close()


def http(
    method: str, url: str, *, headers: dict[str, str] | None = None, body: bytes | None = None
) -> tuple[int, Message, bytes]:
    """One HTTP request with the standard library; returns (status, headers, body)."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()
