"""Django's WSGI handler inside the ASGI server, with one hand-off per request (issue #24).

a2wsgi's bridge runs the WSGI application on a thread and sends every part of the response
(status, each chunk, the end) back to the event loop one at a time, the thread waiting on the
loop each time: three round trips between thread and loop for the smallest answer, each a task,
a future and two wake-ups. Measured under load (README "Performance"), that bridge cost the
server more CPU per health check than Django did.

This bridge reads the request body on the loop (bounded: a body past the size limit, or one
without a Content-Length, is not read and Django answers 413 / 411 from the headers), runs the
application and collects its whole response on one pool thread, and the loop sends it: one
hand-off there and one back. Streaming responses (exports, evidence bundles, files) are
iterated on that same thread, so a generator keeps its thread's database connection, and sent
chunk by chunk as a2wsgi does. The environ is built by a2wsgi.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from a2wsgi.wsgi import build_environ

Message = dict[str, Any]
Send = Callable[[Message], Any]
Receive = Callable[[], Any]
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _Response:
    """What the application answered, filled on the pool thread."""

    __slots__ = ("body", "headers", "status")

    def __init__(self) -> None:
        self.status = 500
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: bytes | None = None  # None: streamed already

    def start(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        self.status = int(status.split(" ", 1)[0])
        self.headers = [
            (name.strip().lower().encode("latin1"), value.strip().encode("latin1"))
            for name, value in headers
        ]
        return self._write

    @staticmethod
    def _write(_data: bytes) -> None:
        raise NotImplementedError("the WSGI write() callable is not supported; return the body")

    def start_message(self) -> Message:
        return {"type": "http.response.start", "status": self.status, "headers": self.headers}


async def _read_body(scope: dict[str, Any], receive: Receive, limit: int | None) -> bytes:
    """The request body, unless Django will refuse it from its headers alone."""
    declared = None
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            declared = value
            break
    try:
        length = int(declared) if declared is not None else 0
    except ValueError:
        return b""  # Django answers 400 from the header
    if length <= 0 or (limit is not None and length > limit):
        return b""
    chunks: list[bytes] = []
    received = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            break
        chunk = message.get("body", b"")
        received += len(chunk)
        chunks.append(chunk)
        if not message.get("more_body", False) or received >= length:
            break
    return b"".join(chunks)


class WsgiBridge:
    """An ASGI application (HTTP only) calling ``app`` on a pool of ``threads`` threads."""

    def __init__(self, app: WsgiApp, *, threads: int, body_limit: int | None) -> None:
        self.app = app
        self.body_limit = body_limit
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="wsgi")

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        body = await _read_body(scope, receive, self.body_limit)
        environ: dict[str, Any] = dict(build_environ(scope, io.BytesIO(body)))  # type: ignore[arg-type]
        response = await loop.run_in_executor(self.executor, self._respond, environ, loop, send)
        if response.body is not None:
            await send(response.start_message())
            await send({"type": "http.response.body", "body": response.body})

    def _respond(
        self, environ: dict[str, Any], loop: asyncio.AbstractEventLoop, send: Send
    ) -> _Response:
        """On a pool thread: call the application; collect its answer, or stream it."""
        response = _Response()
        iterable = self.app(environ, response.start)
        try:
            if not getattr(iterable, "streaming", False):
                response.body = b"".join(iterable)
                return response

            def send_now(message: Message) -> None:
                asyncio.run_coroutine_threadsafe(send(message), loop).result()

            send_now(response.start_message())
            for chunk in iterable:
                if chunk:
                    send_now({"type": "http.response.body", "body": chunk, "more_body": True})
            send_now({"type": "http.response.body", "body": b""})
            return response
        finally:
            close = getattr(iterable, "close", None)
            if close is not None:
                close()  # Django's request_finished: this thread's connection back to the pool
