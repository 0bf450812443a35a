"""The ASGI server's bridge to Django's WSGI handler (metaqore_site.wsgi_bridge): a whole
answer in two messages after one hand-off, streams chunk by chunk from one thread, bodies read
only when Django would accept them."""

from __future__ import annotations

import asyncio
import threading

from metaqore_site.wsgi_bridge import WsgiBridge


def scope(method: str = "GET", headers: list[tuple[bytes, bytes]] | None = None) -> dict:
    return {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "path": "/p",
        "query_string": b"a=1",
        "headers": headers or [(b"host", b"example.test")],
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 5000),
    }


def run(bridge: WsgiBridge, request_scope: dict, messages: list[dict]) -> tuple[list, int]:
    sent: list[dict] = []
    pending = list(messages)
    reads = [0]

    async def receive() -> dict:
        reads[0] += 1
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(bridge(request_scope, receive, send))
    return sent, reads[0]


class Recorder:
    """A WSGI application that records what it saw and on which thread it ran."""

    def __init__(self, body: bytes | list[bytes] = b"hello", streaming: bool = False):
        self.body, self.streaming = body, streaming
        self.environ: dict = {}
        self.threads: set[int] = set()
        self.closed_on: int | None = None

    def __call__(self, environ, start_response):
        self.environ = environ
        self.environ["read"] = environ["wsgi.input"].read()
        self.threads.add(threading.get_ident())
        start_response("201 Created", [("Content-Type", "text/plain"), ("X-One", "1")])
        recorder = self

        class Answer:
            streaming = recorder.streaming

            def __iter__(self):
                chunks = recorder.body if isinstance(recorder.body, list) else [recorder.body]
                for chunk in chunks:
                    recorder.threads.add(threading.get_ident())
                    yield chunk

            def close(self):
                recorder.closed_on = threading.get_ident()

        return Answer()


def test_a_whole_answer_is_sent_in_two_messages():
    app = Recorder(b"hello")
    sent, _ = run(WsgiBridge(app, threads=2, body_limit=100), scope(), [])
    assert sent == [
        {
            "type": "http.response.start",
            "status": 201,
            "headers": [(b"content-type", b"text/plain"), (b"x-one", b"1")],
        },
        {"type": "http.response.body", "body": b"hello"},
    ]
    assert app.environ["PATH_INFO"] == "/p"
    assert app.environ["QUERY_STRING"] == "a=1"
    assert app.environ["HTTP_HOST"] == "example.test"
    assert app.closed_on in app.threads  # request_finished on the request's own thread


def test_a_stream_is_sent_chunk_by_chunk_from_one_thread():
    app = Recorder([b"a", b"", b"b", b"c"], streaming=True)
    sent, _ = run(WsgiBridge(app, threads=4, body_limit=100), scope(), [])
    assert [m["type"] for m in sent] == ["http.response.start"] + ["http.response.body"] * 4
    assert [m.get("body") for m in sent[1:]] == [b"a", b"b", b"c", b""]
    assert [m.get("more_body", False) for m in sent[1:]] == [True, True, True, False]
    assert len(app.threads) == 1 and app.closed_on in app.threads


def test_a_body_in_several_messages_is_read_whole():
    app = Recorder()
    headers = [(b"host", b"h"), (b"content-length", b"6"), (b"content-type", b"text/plain")]
    messages = [
        {"type": "http.request", "body": b"abc", "more_body": True},
        {"type": "http.request", "body": b"def", "more_body": False},
    ]
    run(WsgiBridge(app, threads=1, body_limit=100), scope("POST", headers), messages)
    assert app.environ["read"] == b"abcdef"
    assert app.environ["CONTENT_LENGTH"] == "6"


def test_a_body_django_refuses_from_its_headers_is_not_read():
    for headers in (
        [(b"host", b"h"), (b"content-length", b"101")],  # over the limit: 413
        [(b"host", b"h"), (b"transfer-encoding", b"chunked")],  # no length: 411
        [(b"host", b"h"), (b"content-length", b"x")],  # 400
    ):
        app = Recorder()
        big = [{"type": "http.request", "body": b"x" * 101, "more_body": False}]
        _, reads = run(WsgiBridge(app, threads=1, body_limit=100), scope("POST", headers), big)
        assert reads == 0 and app.environ["read"] == b""


def test_a_client_that_leaves_mid_body_does_not_hang_the_request():
    app = Recorder()
    headers = [(b"host", b"h"), (b"content-length", b"10")]
    messages = [{"type": "http.request", "body": b"abc", "more_body": True}]
    run(WsgiBridge(app, threads=1, body_limit=100), scope("POST", headers), messages)
    assert app.environ["read"] == b"abc"
