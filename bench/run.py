"""MetaQore benchmark harness: request overhead against a reference server, governed
throughput and latency, scaling, reads and export.

    .venv/bin/python bench/run.py                  # the full run (make bench), about 6 minutes
    .venv/bin/python bench/run.py --overhead-only  # the ratios to the reference, under a minute
    .venv/bin/python bench/run.py --smoke          # seconds; CI runs it through the test suite

Starts the API server the production way (Granian's WSGI workers, metaqore_site.api_server,
one per core, DEBUG off, rate limiting ON with its counters in Redis; ``--server asgi`` for
the all-in-one gunicorn + uvicorn server, 2 x cores) on a fresh org in the embedded
database (or DATABASE_URL), and beside it the reference, a FastAPI hello world under uvicorn
(bench/reference_app.py). Drives both from an async httpx load generator on loopback (one
client per agent, bounded in requests and seconds), prints the overhead ratios side by side
(bench/overhead.py) and a table, and writes bench/results/latest.json (machine, commit,
settings, every scenario). The org is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import secrets
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "metaqore_site.settings")
# Creates and drops throwaway orgs (schemas): the owner database role (README "Security").
os.environ.setdefault("METAQORE_DB_ROLE", "owner")

import httpx
import overhead
from declare_scaling import fill  # sets Django up
from django.db import connection
from export_bench import load_events
from loadgen import free_port, load, paced_load, summarize
from machine import machine
from report import ceiling_rps, ratios, report
from servers import RESULTS, default_workers, start_server

from access.actors import Actor
from access.keys import agent_key_create
from projects.services import project_create
from tenants.models import Organization
from tenants.services import organization_create


def vacuum_events() -> None:
    """What autovacuum does soon after a bulk load (statistics, visibility map, hint bits): done
    now, so it neither runs during a measurement nor leaves the first reader to do it."""
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE compliance_auditevent")


def run(args: argparse.Namespace) -> dict:
    workers = args.workers or default_workers(args.server)
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
    agents = max(overhead.CLIENTS, *args.agents)
    keys = [agent_key_create(agent_name=f"agent-{i}").key for i in range(agents)]
    auditor = agent_key_create(agent_name="auditor", privileged=True).key
    connection.set_schema_to_public()

    # The load generator is a Python process with Django loaded too: its own full garbage
    # collections (100 ms and more here) would be charged to the servers' latency.
    gc.collect()
    gc.freeze()
    port = free_port()
    server = start_server(port, workers, args.server)
    base = f"http://127.0.0.1:{port}"

    def new_project() -> str:
        connection.set_tenant(organization)
        made = project_create(actor=Actor("agent", "bench"), name=f"small-{secrets.token_hex(3)}")
        connection.set_schema_to_public()
        return made.id

    try:
        reference_port = free_port()
        reference = overhead.start_reference(reference_port, ROOT, RESULTS / "reference.log")
        try:
            results.extend(
                overhead.measure(
                    reference=f"http://127.0.0.1:{reference_port}",
                    metaqore=base,
                    domain=domain,
                    keys=keys,
                    read_project=project.id,
                    new_project=new_project,
                    rounds=args.rounds,
                    seconds=args.round_seconds,
                    half_rate_seconds=args.half_rate_seconds,
                )
            )
        finally:
            os.killpg(reference.pid, signal.SIGTERM)
            reference.wait(timeout=30)
        if not args.overhead_only:
            _governed_scenarios(
                args,
                results,
                base=base,
                domain=domain,
                organization=organization,
                project=project,
                keys=keys,
                auditor=auditor,
                server_pid=server.pid,
            )
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


def _governed_scenarios(
    args: argparse.Namespace,
    results: list[dict],
    *,
    base: str,
    domain: str,
    organization: Organization,
    project,
    keys: list[str],
    auditor: str,
    server_pid: int,
) -> None:
    """Health ceilings, declarations (flat out, half load, racing), scaling, reads, export."""
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
        lat, err, secs = asyncio.run(_per_agent_load(base, domain, keys[:agents], declare, args))
        results.append(summarize(f"declare_{agents}_agents", lat, err, secs, concurrency=agents))

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
        paced_load(
            base,
            [{"Host": domain, "Authorization": f"Bearer {key}"} for key in keys[: args.agents[0]]],
            paced,
            rate,
            args.seconds,
        )
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
    load_events(organization.slug, args.events)
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
        load_events(organization.slug, args.export_events - args.events)
        vacuum_events()
        connection.set_schema_to_public()
    results.append(_export(base, privileged, server_pid))


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


def main() -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few seconds, for CI")
    parser.add_argument(
        "--workers", type=int, default=0, help="default: cores (api), 2 x cores (asgi, wsgi)"
    )
    parser.add_argument("--output", default=str(RESULTS / "latest.json"))
    parser.add_argument(
        "--server",
        choices=["api", "asgi", "wsgi"],
        default="api",
        help="api: Granian (production's API server); asgi, wsgi: gunicorn's worker types",
    )
    parser.add_argument(
        "--overhead-only",
        action="store_true",
        help="only the ratios to the reference server (under a minute)",
    )
    parser.add_argument("--rounds", type=int, help="overhead rounds (default 3, smoke 1)")
    parser.add_argument("--round-seconds", type=float, help="seconds per target per round")
    args = parser.parse_args()
    if args.smoke:
        args.rounds = args.rounds or 1
        args.round_seconds = args.round_seconds or 1.0
        args.half_rate_seconds = 2.0
    else:
        args.rounds = args.rounds or 3
        args.round_seconds = args.round_seconds or 4.0
        args.half_rate_seconds = 8.0
    if args.smoke:
        args.requests, args.seconds, args.agents = 80, 10, [2, 4]
        args.scaling, args.scaling_requests = [100, 1000], 40
        args.read_requests, args.events, args.export_events = 40, 2000, 5000
    else:
        args.requests, args.seconds, args.agents = 4000, 30, [8, 32]
        args.scaling, args.scaling_requests = [1000, 10_000, 100_000], 800
        args.read_requests, args.events, args.export_events = 800, 100_000, 1_000_000
    data = run(args)
    data["overhead"] = overhead.ratios(data["results"])
    data["ratios"] = ratios(data)
    data["machine"] = machine()
    data["settings"] = {
        "smoke": args.smoke,
        "server": args.server,
        "rate_limiting": "on (Redis)",
        "overhead_rounds": args.rounds,
        "overhead_round_seconds": args.round_seconds,
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
