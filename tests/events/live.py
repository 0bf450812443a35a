"""Helpers for live-event tests: a committed organization, an SSE reader, a webhook receiver.

Streams and workers read through their own database connections (other threads, other
processes), so these tests use committed data in an organization of their own (created with
organization_create, dropped at the end): writes that others must see go through
``committed``, outside the test's rolled-back transaction.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlsplit

from asgiref.testing import ApplicationCommunicator
from django.db import connection, connections

from access.actors import Actor
from access.keys import agent_key_create
from artifacts.services import artifact_declare
from projects.models import Project
from projects.services import project_create
from tenants.models import Organization
from tenants.services import organization_create
from tests.processes import free_port

CODER = Actor(kind="agent", name="coder")
T = TypeVar("T")


@dataclass
class LiveOrg:
    organization: Organization
    domain: str
    key: str  # a plain agent key of this org
    project_id: str

    def declare(self, artifact_type: str = "code", project_id: str | None = None):
        """Declare an artifact, committed at once whatever transaction the test is in;
        returns the DeclarationResult."""

        def declare():
            connection.set_tenant(self.organization)
            project = Project.objects.get(pk=project_id or self.project_id)
            return artifact_declare(
                actor=CODER, project=project, artifact_type=artifact_type, data={}
            )

        return committed(declare)


def committed(func: Callable[[], T]) -> T:
    """Run ``func`` in a thread of its own: its own connection, autocommit, closed after.

    The tests of this folder run in pytest-django's test transaction (which also makes sure
    the test database exists); what streams and servers must see is written through here."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = func()
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@contextlib.contextmanager
def committed_organization(slug: str) -> Iterator[Organization]:
    """A committed organization (domain ``<slug>.localhost``), dropped afterwards; call it
    with the database unblocked and outside the test transaction."""
    connection.set_schema_to_public()
    stale = Organization.objects.filter(slug=slug).first()
    if stale is not None:  # left behind by an interrupted run
        stale.delete(force_drop=True)
    organization = organization_create(slug=slug, name=slug.title(), domain=f"{slug}.localhost")
    try:
        yield organization
    finally:
        connections.close_all()  # other threads' connections to it, too
        connection.set_schema_to_public()
        organization.delete(force_drop=True)


@contextlib.contextmanager
def committed_org(slug: str) -> Iterator[LiveOrg]:
    """A committed organization with an agent key and a project; dropped afterwards."""
    with committed_organization(slug) as organization:
        connection.set_tenant(organization)
        key = agent_key_create(agent_name="watcher").key
        project = project_create(actor=CODER, name="live")
        connection.set_schema_to_public()
        yield LiveOrg(organization, f"{slug}.localhost", key, project.id)


# --- Server-Sent Events ---------------------------------------------------------------------


@dataclass
class SSEMessage:
    id: str | None = None
    event: str | None = None
    data: str = ""
    comments: list[str] = field(default_factory=list)

    @property
    def json(self) -> dict:
        return json.loads(self.data)


class SSEReader:
    """A minimal SSE client over http.client (the stream is read as it arrives)."""

    def __init__(self, base_url: str, path: str, headers: dict[str, str], timeout: float = 5):
        parts = urlsplit(base_url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        self.conn.request("GET", path, headers={"Accept": "text/event-stream", **headers})
        self.response = self.conn.getresponse()
        self.status = self.response.status
        self.headers = self.response.headers

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.sock and self.conn.sock.shutdown(socket.SHUT_RDWR)
        self.conn.close()

    def __enter__(self) -> SSEReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def message(self) -> SSEMessage:
        """The next message (comments-only blocks included, as a message without data)."""
        message = SSEMessage()
        while True:
            line = self.response.readline()
            if not line:
                raise EOFError("the stream ended")
            text = line.decode().rstrip("\r\n")
            if not text:
                return message
            name, _, value = text.partition(":")
            value = value.removeprefix(" ")
            if name == "":
                message.comments.append(value)
            elif name == "data":
                message.data = f"{message.data}\n{value}" if message.data else value
            elif name in ("id", "event"):
                setattr(message, name, value)

    def events(self, count: int, timeout: float = 5) -> list[SSEMessage]:
        """The next ``count`` event messages (skipping comments and heartbeats)."""
        found: list[SSEMessage] = []
        deadline = time.monotonic() + timeout
        while len(found) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"got {len(found)} of {count} events")
            message = self.message()
            if message.data:
                found.append(message)
        return found


# --- a webhook receiver ---------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    started: float = 0.0  # time.monotonic() when the request arrived
    answered: float = 0.0  # … and when it was answered (0: never, e.g. the caller died)


class Receiver:
    """An HTTP server on 127.0.0.1 recording POSTs; answers the statuses queued in
    ``statuses`` (then 200), each after the delay queued in ``delays`` (then at once)."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.statuses: list[int] = []
        self.delays: list[float] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                received = Received(self.path, dict(self.headers.items()), body, time.monotonic())
                receiver.requests.append(received)
                delay = receiver.delays.pop(0) if receiver.delays else 0
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                time.sleep(delay)
                received.answered = time.monotonic()
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.port = free_port()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.handle_error = lambda *args: None  # type: ignore[method-assign]  # a caller killed mid-request
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- WebSocket, in process ------------------------------------------------------------------


class WebsocketCommunicator(ApplicationCommunicator):
    """Channels' WebsocketCommunicator, minus its package's import of daphne."""

    def __init__(self, application, path: str, headers=None):
        parsed = urlsplit(path)
        scope = {
            "type": "websocket",
            "path": parsed.path,
            "query_string": parsed.query.encode(),
            "headers": headers or [],
            "subprotocols": [],
            "client": ("127.0.0.1", 50000),
        }
        super().__init__(application, scope)

    async def connect(self, timeout: float = 5) -> tuple[bool, object]:
        await self.send_input({"type": "websocket.connect"})
        response = await self.receive_output(timeout)
        if response["type"] == "websocket.close":
            return False, response.get("code", 1000)
        assert response["type"] == "websocket.accept"
        return True, response.get("subprotocol")

    async def send_to(self, text_data: str | None = None, bytes_data: bytes | None = None):
        if text_data is not None:
            await self.send_input({"type": "websocket.receive", "text": text_data})
        else:
            await self.send_input({"type": "websocket.receive", "bytes": bytes_data})

    async def send_json_to(self, data) -> None:
        await self.send_to(text_data=json.dumps(data))

    async def receive_from(self, timeout: float = 5) -> str:
        response = await self.receive_output(timeout)
        assert response["type"] == "websocket.send", response
        return response["text"]

    async def disconnect(self, code: int = 1000, timeout: float = 5) -> None:
        await self.send_input({"type": "websocket.disconnect", "code": code})
        await self.wait(timeout)
