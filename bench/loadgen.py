"""The load generator every benchmark shares: closed-loop clients (each its own keep-alive
connection, as an agent is) and open-loop paced agents, and the summary of their latencies."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
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
    errors = 0
    counter = iter(range(total))
    deadline = time.monotonic() + max_seconds

    async def worker(worker_id: int) -> None:
        nonlocal errors
        own = headers[worker_id] if isinstance(headers, list) else headers
        async with httpx.AsyncClient(base_url=base, headers=own, timeout=30) as client:
            for n in counter:
                if time.monotonic() > deadline:
                    return
                method, path, body = make_request(worker_id, n)
                began = time.perf_counter()
                response = await client.request(method, path, json=body)
                latencies.append(time.perf_counter() - began)
                if response.status_code not in ok:
                    errors += 1
                    if errors <= 3:
                        print(f"unexpected {response.status_code}: {response.text[:300]}")

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return latencies, errors, time.perf_counter() - started


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
    wait (no coordinated omission)."""
    interval = len(headers) / rate
    latencies: list[float] = []
    errors = 0

    async def agent(index: int, own: dict[str, str]) -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=base, headers=own, timeout=30) as client:
            start = time.perf_counter() + index * interval / len(headers)  # spread the agents
            n = 0
            while True:
                scheduled = start + n * interval
                if scheduled - start > seconds:
                    return
                await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
                method, path, body = make_request(index, n)
                response = await client.request(method, path, json=body)
                latencies.append(time.perf_counter() - scheduled)
                if response.status_code not in ok:
                    errors += 1
                    if errors <= 3:
                        print(f"unexpected {response.status_code}: {response.text[:300]}")
                n += 1

    began = time.perf_counter()
    await asyncio.gather(*(agent(i, own) for i, own in enumerate(headers)))
    return latencies, errors, time.perf_counter() - began


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
