"""The load generator every benchmark shares: closed-loop clients (each its own keep-alive
connection, as an agent is) and open-loop paced agents, and the summary of their latencies."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx

# (worker index, request number) -> (method, path, JSON body or None)
MakeRequest = Callable[[int, int], tuple[str, str, Any]]


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def summarize(name: str, latencies: list[float], errors: int, seconds: float, **extra) -> dict:
    latencies.sort()
    return {
        "scenario": name,
        "requests": len(latencies),
        "errors": errors,
        "seconds": round(seconds, 2),
        "rps": round(len(latencies) / seconds, 1) if seconds else 0.0,
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p95_ms": round(percentile(latencies, 0.95) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        **extra,
    }


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection in the load generator while it measures (``timeit`` does
    the same). Its full collections took 12-70 ms every few seconds here even with its heap
    frozen, and during one no request is sent or answered: the pause was charged to the
    server measured, as throughput lost and as latency (the whole half-rate p99 of some runs).
    Reference-counted memory is still freed; the cycles wait a few seconds."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextlib.asynccontextmanager
async def agents_ready(
    base: str, headers: list[dict[str, str]]
) -> AsyncIterator[list[httpx.AsyncClient]]:
    """One client per agent, all built before the caller starts its clock, closed at the end;
    the collector paused in between. Building an httpx client takes the event loop for
    milliseconds (an SSL context even for plain HTTP): built on the clock, the eighth agent's
    construction delayed the other seven's first sends, which were charged for it (0.1 s and
    more in an open loop: the whole p99 of a short run)."""
    clients = [httpx.AsyncClient(base_url=base, headers=own, timeout=30) for own in headers]
    try:
        with collector_paused():
            yield clients
    finally:
        for client in clients:
            await client.aclose()


class Unexpected:
    """Answers outside ``ok``: counted, and the first three printed."""

    def __init__(self, ok: tuple[int, ...]) -> None:
        self.ok = ok
        self.count = 0

    def check(self, response: httpx.Response) -> None:
        if response.status_code not in self.ok:
            self.count += 1
            if self.count <= 3:
                print(f"unexpected {response.status_code}: {response.text[:300]}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def load(
    base: str,
    headers: dict[str, str] | list[dict[str, str]],
    make_request: MakeRequest,
    *,
    concurrency: int,
    total: int,
    max_seconds: float,
    ok: tuple[int, ...] = (200, 201),
) -> tuple[list[float], int, float]:
    """``concurrency`` workers send ``total`` requests (or stop after ``max_seconds``).

    Each worker is one client on its own keep-alive connection, as an agent is: one httpx
    client pooling many connections costs more CPU per request than the server's health
    check once past a few connections, and the load generator shares the server's cores.
    ``headers`` is one dict for every worker or one per worker (e.g. an agent's key)."""
    latencies: list[float] = []
    unexpected = Unexpected(ok)
    counter = iter(range(total))
    per_worker = headers if isinstance(headers, list) else [headers] * concurrency

    async def worker(worker_id: int, client: httpx.AsyncClient, deadline: float) -> None:
        for n in counter:
            if time.monotonic() > deadline:
                return
            method, path, body = make_request(worker_id, n)
            began = time.perf_counter()
            response = await client.request(method, path, json=body)
            latencies.append(time.perf_counter() - began)
            unexpected.check(response)

    async with agents_ready(base, per_worker[:concurrency]) as clients:
        started = time.perf_counter()
        deadline = time.monotonic() + max_seconds
        await asyncio.gather(*(worker(i, client, deadline) for i, client in enumerate(clients)))
        return latencies, unexpected.count, time.perf_counter() - started


async def paced_load(
    base: str,
    headers: list[dict[str, str]],
    make_request: MakeRequest,
    rate: float,
    seconds: float,
    ok: tuple[int, ...] = (201,),
) -> tuple[list[float], int, float]:
    """Open loop: each agent (one per ``headers`` entry) sends at fixed intervals (``rate``
    requests/s in all), whatever the answers' speed. Latency counts from the scheduled send
    time, so a request that had to wait for its agent's previous answer is charged for the
    wait (no coordinated omission). The clients are ready before the schedule starts
    (``agents_ready``)."""
    interval = len(headers) / rate
    latencies: list[float] = []
    unexpected = Unexpected(ok)

    async def agent(index: int, client: httpx.AsyncClient, start: float) -> None:
        n = 0
        while True:
            scheduled = start + n * interval
            if scheduled - start > seconds:
                return
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            method, path, body = make_request(index, n)
            response = await client.request(method, path, json=body)
            latencies.append(time.perf_counter() - scheduled)
            unexpected.check(response)
            n += 1

    async with agents_ready(base, headers) as clients:
        began = time.perf_counter()
        # The agents are spread over one interval, as independent agents would be.
        spread = interval / len(clients)
        await asyncio.gather(
            *(agent(i, client, began + i * spread) for i, client in enumerate(clients))
        )
        return latencies, unexpected.count, time.perf_counter() - began


def wait_until_up(url: str, proc, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.2)
