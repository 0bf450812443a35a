"""MetaQore benchmark harness: governed throughput and latency against the machine's ceiling.

    .venv/bin/python bench/run.py            # the full run (make bench), about 5 minutes
    .venv/bin/python bench/run.py --smoke    # seconds; CI runs it through the test suite

Starts the server the production way (gunicorn + uvicorn workers, DEBUG off, workers =
2 x cores) on a fresh org in the embedded database (or DATABASE_URL), drives it from an async
httpx load generator on loopback (one client per agent, bounded in requests and seconds),
prints a table and writes bench/results/latest.json (machine, commit, settings, every
scenario). The org is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "metaqore_site.settings")

import httpx
from declare_scaling import fill  # sets Django up
from django.db import connection
from export_bench import load_events
from machine import machine

from access.actors import Actor
from access.keys import agent_key_create
from projects.services import project_create
from tenants.models import Organization
from tenants.services import organization_create

RESULTS = ROOT / "bench" / "results"


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


async def load(
    base: str,
    headers: dict[str, str] | list[dict[str, str]],
    make_request,
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int, workers: int, server: str = "asgi") -> subprocess.Popen:
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "METAQORE_ENABLE_RATE_LIMIT": "false",
        "METAQORE_SECURE_COOKIES": "false",
        "METAQORE_LOG_LEVEL": "WARNING",
    }
    if server == "wsgi":  # gunicorn's threaded WSGI workers: no sync/async switches per request
        app, worker = (
            "metaqore_site.wsgi:application",
            ["--worker-class", "gthread", "--threads", "4"],
        )
    else:  # production's default: uvicorn workers (ASGI), needed for SSE and WebSockets
        app, worker = (
            "metaqore_site.asgi:application",
            ["--worker-class", "uvicorn_worker.UvicornWorker"],
        )
    command = [
        sys.executable, "-m", "gunicorn", app, *worker, "--workers", str(workers),
        "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
    ]  # fmt: skip
    log = (RESULTS / "server.log").open("w")  # access logs and warnings, away from the table
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the benchmark server did not start")
        time.sleep(0.2)


def vacuum_events() -> None:
    """What autovacuum does soon after a bulk load (statistics, visibility map, hint bits): done
    now, so it neither runs during a measurement nor leaves the first reader to do it."""
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE compliance_auditevent")


def run(args: argparse.Namespace) -> dict:
    cores = os.cpu_count() or 2
    workers = args.workers or 2 * cores
    results: list[dict] = []
    slug = f"bench-{int(time.time())}"
    domain = f"{slug}.localhost"

    # The first org after a migration change also (re)builds the template schema it is cloned
    # from: time a throwaway org first (reported as cold), then the benchmark's own org.
    began = time.perf_counter()
    organization_create(slug=f"{slug}-warm", name="Warm-up", domain=f"{slug}-warm.localhost")
    cold = time.perf_counter() - began
    Organization.objects.get(slug=f"{slug}-warm").delete(force_drop=True)
    began = time.perf_counter()
    organization = organization_create(slug=slug, name="Benchmark", domain=domain)
    provisioning = time.perf_counter() - began
    results.append(
        {
            "scenario": "provisioning",
            "seconds": round(provisioning, 2),
            "first_seconds": round(cold, 2),
            "method": organization.provisioned_by,
        }
    )

    connection.set_tenant(organization)
    project = project_create(actor=Actor("agent", "bench"), name="bench")
    keys = [agent_key_create(agent_name=f"agent-{i}").key for i in range(max(args.agents))]
    auditor = agent_key_create(agent_name="auditor", privileged=True).key
    connection.set_schema_to_public()

    port = free_port()
    server = start_server(port, workers, args.server)
    base = f"http://127.0.0.1:{port}"
    try:
        host = {"Host": domain, "Authorization": f"Bearer {keys[0]}"}

        def health(_worker: int, _n: int):
            return "GET", "/api/v1/health", None

        # The framework's ceiling: the cheapest request with tenant routing and authentication,
        # at the concurrencies the declare scenarios use; the best of them is the ceiling.
        for clients in args.agents:
            lat, err, secs = asyncio.run(
                load(
                    base,
                    host,
                    health,
                    concurrency=clients,
                    total=args.requests,
                    max_seconds=args.seconds,
                )
            )
            results.append(
                summarize(f"ceiling_health_{clients}_clients", lat, err, secs, concurrency=clients)
            )

        for agents in args.agents:
            run_id = secrets.token_hex(3)

            def declare(worker: int, n: int, agents=agents, run_id=run_id):
                body = {
                    "project_id": project.id,
                    "artifact_type": f"line-{run_id}-{worker % agents}",
                    "data": {"n": n},
                }
                return "POST", "/api/v1/artifacts", body

            # One agent key per worker: each agent writes its own lines (no conflicts).
            lat, err, secs = asyncio.run(
                _per_agent_load(base, domain, keys[:agents], declare, args)
            )
            results.append(
                summarize(f"declare_{agents}_agents", lat, err, secs, concurrency=agents)
            )

        # The same 8 agents at half the throughput they reached flat out: latency without the
        # queueing of a saturated machine (the load generator shares its two cores).
        declare8 = next(r for r in results if r["scenario"] == f"declare_{args.agents[0]}_agents")
        rate = declare8["rps"] / 2
        run_id = secrets.token_hex(3)

        def paced(worker: int, n: int, run_id=run_id):
            body = {
                "project_id": project.id,
                "artifact_type": f"paced-{run_id}-{worker}",
                "data": {"n": n},
            }
            return "POST", "/api/v1/artifacts", body

        lat, err, secs = asyncio.run(
            _paced_load(base, domain, keys[: args.agents[0]], paced, rate, args.seconds)
        )
        results.append(
            summarize(
                f"declare_{args.agents[0]}_agents_half_load",
                lat,
                err,
                secs,
                concurrency=args.agents[0],
                offered_rps=round(rate, 1),
            )
        )

        def conflicting(worker: int, n: int):
            body = {"project_id": project.id, "artifact_type": f"race-{n % 4}", "data": {"n": n}}
            return "POST", "/api/v1/artifacts", body

        lat, err, secs = asyncio.run(
            _per_agent_load(base, domain, keys[:8], conflicting, args, ok=(201, 409))
        )
        results.append(summarize("declare_conflicting_8_agents", lat, err, secs, concurrency=8))

        # Scaling: declare latency as the project grows (filled with SQL, not HTTP).
        connection.set_tenant(organization)
        scaling_project = project_create(actor=Actor("agent", "bench"), name="scaling")
        connection.set_schema_to_public()
        filled = 0
        for size in args.scaling:
            connection.set_tenant(organization)
            fill(scaling_project.id, filled, size)
            connection.set_schema_to_public()
            filled = size

            def scaled(worker: int, n: int, size=size):
                body = {
                    "project_id": scaling_project.id,
                    "artifact_type": f"probe-{size}-{worker}",
                    "data": {"n": n},
                    # One path held by a filled artifact (a different one per probe): every
                    # check does real work without probes piling conflicts onto each other.
                    "file_paths": [f"probe/{size}/{n}.py", f"src/f{(n * 7919 + worker) % size}.py"],
                    "requirements": {"pkg7": ">=2"},
                }
                return "POST", "/api/v1/artifacts", body

            # Probes claim a path the filled artifacts hold too: every check does real work
            # and the answer is a 409 (file_path_collision), as in a busy project.
            lat, err, secs = asyncio.run(
                _per_agent_load(
                    base, domain, keys[:8], scaled, args, ok=(201, 409), total=args.scaling_requests
                )
            )
            results.append(summarize(f"scaling_declare_at_{size}", lat, err, secs, concurrency=8))

        # Read paths at the largest size, with audit events loaded.
        connection.set_tenant(organization)
        load_events(slug, args.events)
        vacuum_events()
        connection.set_schema_to_public()
        privileged = {"Host": domain, "Authorization": f"Bearer {auditor}"}
        reads = {
            "read_artifact_list": f"/api/v1/artifacts?project_id={scaling_project.id}",
            "read_blocking_report": (
                f"/api/v1/governance/blocking-report?project_id={scaling_project.id}"
            ),
            "read_conflict_list": f"/api/v1/governance/conflicts?project_id={project.id}",
            "read_audit_page": "/api/v1/governance/compliance/audit",
        }
        # One reader: the latency of each read at this size (the target). Eight: the
        # throughput of the read path with the machine saturated (latency is then queueing).
        for name, path in reads.items():
            for readers in (1, 8):
                lat, err, secs = asyncio.run(
                    load(
                        base,
                        privileged,
                        lambda _w, _n, path=path: ("GET", path, None),
                        concurrency=readers,
                        total=args.read_requests,
                        max_seconds=args.seconds,
                    )
                )
                label = f"{name}_{readers}_client" + ("s" if readers > 1 else "")
                results.append(summarize(label, lat, err, secs, concurrency=readers))

        # Export: the trail grown to ``export_events`` (1M in the full run), streamed as CSV.
        if args.export_events > args.events:
            connection.set_tenant(organization)
            load_events(slug, args.export_events - args.events)
            vacuum_events()
            connection.set_schema_to_public()
        results.append(_export(base, privileged, server.pid))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        connection.set_schema_to_public()
        organization.delete(force_drop=True)
    return {
        "ceiling_rps": ceiling_rps(results),
        "workers": workers,
        "server": args.server,
        "results": results,
    }


async def _per_agent_load(base, domain, keys, make_request, args, ok=(201,), total=None):
    """One client per agent key (an agent is one credential), each on its own connection."""
    return await load(
        base,
        [{"Host": domain, "Authorization": f"Bearer {key}"} for key in keys],
        make_request,
        concurrency=len(keys),
        total=total or args.requests,
        max_seconds=args.seconds,
        ok=ok,
    )


async def _paced_load(base, domain, keys, make_request, rate, seconds, ok=(201,)):
    """Open loop: each agent sends at fixed intervals (``rate`` requests/s in all), whatever
    the answers' speed. Latency counts from the scheduled send time, so a request that had to
    wait for its agent's previous answer is charged for the wait (no coordinated omission)."""
    interval = len(keys) / rate
    latencies: list[float] = []
    errors = 0

    async def agent(index: int, key: str) -> None:
        nonlocal errors
        headers = {"Host": domain, "Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
            start = time.perf_counter() + index * interval / len(keys)  # spread the agents
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
                n += 1

    began = time.perf_counter()
    await asyncio.gather(*(agent(i, key) for i, key in enumerate(keys)))
    return latencies, errors, time.perf_counter() - began


def _export(base: str, headers: dict[str, str], server_pid: int) -> dict:
    import psutil

    processes = [psutil.Process(server_pid), *psutil.Process(server_pid).children(recursive=True)]
    peak = 0
    rows = 0
    began = time.perf_counter()
    with httpx.stream(
        "GET",
        f"{base}/api/v1/governance/compliance/export?format=csv",
        headers=headers,
        timeout=None,
    ) as response:
        # Count CRLF row ends in raw bytes: splitting a million lines in Python would take the
        # CPU the server needs (both share the two cores). The benchmark's cells hold no CRLF.
        for n, data in enumerate(response.iter_raw(chunk_size=1 << 16)):
            rows += data.count(b"\r\n")
            if n % 64 == 0:
                peak = max(peak, max(p.memory_info().rss for p in processes if p.is_running()))
    seconds = time.perf_counter() - began
    return {
        "scenario": "export_csv",
        "events": rows - 1,
        "seconds": round(seconds, 2),
        "events_per_second": round((rows - 1) / seconds),
        "peak_worker_rss_mb": round(peak / 2**20, 1),
    }


def report(data: dict) -> None:
    print(f"\n{'scenario':<34}{'requests':>9}{'rps':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    for row in data["results"]:
        if "rps" in row:
            print(
                f"{row['scenario']:<34}{row['requests']:>9}{row['rps']:>9}"
                f"{row['p50_ms']:>9}{row['p95_ms']:>9}{row['p99_ms']:>9}"
                + (f"   errors={row['errors']}" if row["errors"] else "")
            )
        else:
            values = {key: value for key, value in row.items() if key != "scenario"}
            print(f"{row['scenario']:<34}{json.dumps(values)}")
    print("\nratios:")
    for name, value in data["ratios"].items():
        print(f"  {name}: {value}")


def ceiling_rps(results: list[dict]) -> float:
    """The best health-check throughput over the concurrencies measured."""
    return max(row["rps"] for row in results if row["scenario"].startswith("ceiling_"))


def ratios(data: dict) -> dict:
    by_name = {row["scenario"]: row for row in data["results"]}
    ceiling = ceiling_rps(data["results"])
    scaling = sorted(
        (int(name.rsplit("_", 1)[1]), row)
        for name, row in by_name.items()
        if name.startswith("scaling_")
    )
    out = {}
    declare8 = by_name.get("declare_8_agents")
    if declare8 and ceiling:
        out["declare_8_rps_over_ceiling_rps"] = round(declare8["rps"] / ceiling, 3)
    if len(scaling) >= 2 and scaling[0][1]["p50_ms"]:
        out[f"declare_p50_at_{scaling[-1][0]}_over_at_{scaling[0][0]}"] = round(
            scaling[-1][1]["p50_ms"] / scaling[0][1]["p50_ms"], 2
        )
    out["export_peak_rss_mb"] = by_name["export_csv"]["peak_worker_rss_mb"]
    return out


def main() -> None:
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few seconds, for CI")
    parser.add_argument("--workers", type=int, default=0, help="default: 2 x cores")
    parser.add_argument("--output", default=str(RESULTS / "latest.json"))
    parser.add_argument(
        "--server", choices=["asgi", "wsgi"], default="asgi", help="gunicorn worker type"
    )
    args = parser.parse_args()
    if args.smoke:
        args.requests, args.seconds, args.agents = 80, 10, [2, 4]
        args.scaling, args.scaling_requests = [100, 1000], 40
        args.read_requests, args.events, args.export_events = 40, 2000, 5000
    else:
        args.requests, args.seconds, args.agents = 4000, 30, [8, 32]
        args.scaling, args.scaling_requests = [1000, 10_000, 100_000], 800
        args.read_requests, args.events, args.export_events = 800, 100_000, 1_000_000
    data = run(args)
    data["ratios"] = ratios(data)
    data["machine"] = machine()
    data["settings"] = {
        "smoke": args.smoke,
        "server": args.server,
        "requests": args.requests,
        "agents": args.agents,
        "scaling": args.scaling,
        "events": args.events,
        "export_events": args.export_events,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(data, indent=2))
    report(data)


if __name__ == "__main__":
    main()
