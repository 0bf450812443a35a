"""Where the machine's CPU goes while 8 clients load one request kind: the server processes,
PostgreSQL, Redis, the load generator (this process) and the rest, per request and as a share
of a core. Starts the server the way bench/run.py does, on a throwaway org.

    .venv/bin/python bench/cpu_split.py [--kind health|read|declare] [--server api|asgi]
        [--workers N] [--seconds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import time

import psutil
from loadgen import load
from run import (  # sets Django up, as the benchmark does
    Actor,
    agent_key_create,
    connection,
    free_port,
    organization_create,
    project_create,
)
from servers import default_workers, start_server

GROUPS = ("server", "postgres", "redis", "loadgen", "other")


def cpu_by_group() -> dict[str, float]:
    """Seconds of CPU (user + system) each group of processes has used so far."""
    totals = dict.fromkeys(GROUPS, 0.0)
    me = os.getpid()
    for proc in psutil.process_iter(["pid", "name", "cmdline", "cpu_times"]):
        try:
            times = proc.info["cpu_times"]
            used = times.user + times.system
            command = " ".join(proc.info["cmdline"] or [])
            name = proc.info["name"] or ""
        except (psutil.Error, TypeError):
            continue
        if proc.info["pid"] == me:
            totals["loadgen"] += used
        elif "gunicorn" in command or "metaqore_site.api_server" in command:
            totals["server"] += used
        elif "postgres" in name or "postgres:" in command:
            totals["postgres"] += used
        elif "redis" in name:
            totals["redis"] += used
        else:
            totals["other"] += used
    return totals


def main() -> None:
    # One log line per request would be charged to the load generator (3 ms each, seen).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", default="health", choices=["health", "read", "declare"])
    parser.add_argument("--server", default="api", choices=["api", "asgi", "wsgi"])
    parser.add_argument("--workers", type=int, default=0, help="default: the server's own")
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()

    slug = f"cpu-{int(time.time())}"
    domain = f"{slug}.localhost"
    organization = organization_create(slug=slug, name="CPU split", domain=domain)
    connection.set_tenant(organization)
    project = project_create(actor=Actor("agent", "bench"), name="split").id
    keys = [agent_key_create(agent_name=f"agent-{i}").key for i in range(8)]
    connection.set_schema_to_public()
    port = free_port()
    server = start_server(port, args.workers or default_workers(args.server), args.server)
    try:
        agents = [{"Host": domain, "Authorization": f"Bearer {key}"} for key in keys]
        headers = {"Host": domain} if args.kind == "health" else agents
        make_request = {
            "health": lambda _w, _n: ("GET", "/api/v1/health", None),
            "read": lambda _w, _n: ("GET", f"/api/v1/projects/{project}", None),
            "declare": lambda w, _n: (
                "POST",
                "/api/v1/artifacts",
                {"project_id": project, "artifact_type": f"split-{w}", "data": {}},
            ),
        }[args.kind]
        base = f"http://127.0.0.1:{port}"

        def run(seconds: float) -> tuple[list[float], int, float]:
            return asyncio.run(
                load(base, headers, make_request, concurrency=8, total=10**9, max_seconds=seconds)
            )

        run(2.0)  # warm-up
        before, began = cpu_by_group(), time.monotonic()
        latencies, errors, seconds = run(args.seconds)
        after, elapsed = cpu_by_group(), time.monotonic() - began
        served = len(latencies)
        print(f"{args.kind}: {served / seconds:.0f} requests/s, {errors} errors")
        for group in GROUPS:
            used = after[group] - before[group]
            print(
                f"  {group:<9}{100 * used / elapsed:5.0f} % of a core"
                f"{1000 * used / max(served, 1):8.3f} ms per request"
            )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        connection.set_schema_to_public()
        organization.delete(force_drop=True)


if __name__ == "__main__":
    main()
