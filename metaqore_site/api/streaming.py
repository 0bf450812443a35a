"""Streaming responses that stay streamed under both WSGI and ASGI.

Django consumes a sync iterator whole when serving it over ASGI (and an async one over WSGI),
which would load an entire export into memory. ``streaming_response`` hands Django the kind of
iterator the server needs. Under ASGI each chunk is produced by ``sync_to_async`` (thread
sensitive: the same thread, hence the same database connection and transaction, as the view),
and the generator is closed from ``response.close()``, which Django also runs on that thread,
even when the client disconnects half-way.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse

_END = object()


def _next_or_end(chunks: Iterator[bytes]) -> bytes | object:
    return next(chunks, _END)


class AsyncChunks:
    """An async iterator over a sync generator, with a sync ``close()`` for Django."""

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks = chunks
        self._next = sync_to_async(_next_or_end, thread_sensitive=True)

    def __aiter__(self) -> AsyncChunks:
        return self

    async def __anext__(self) -> bytes:
        chunk = await self._next(self._chunks)
        if chunk is _END:
            raise StopAsyncIteration
        return cast(bytes, chunk)

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()


def streaming_response(
    chunks: Iterator[bytes], *, request, content_type: str, filename: str | None = None
) -> StreamingHttpResponse:
    django_request = getattr(request, "_request", request)
    content = AsyncChunks(chunks) if isinstance(django_request, ASGIRequest) else chunks
    response = StreamingHttpResponse(content, content_type=content_type)
    if filename:
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
