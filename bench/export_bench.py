"""Export benchmark: stream 1,000,000 audit events as CSV over HTTP from a real server process
and report the time, the throughput and the server's peak memory (target: < 200 MB RSS).

    .venv/bin/python bench/export_bench.py [--events 1000000] [--format csv]
        [--server gunicorn|runserver] [--port 8201] [--keep]

1. creates a throwaway org in the embedded database (or DATABASE_URL) and loads N events with
   a correct hash chain: rows are built with compliance.chain's own hashing and COPY'd in;
2. starts the server (default: production's gunicorn + one uvicorn ASGI worker) in its own
   process group, creates a privileged agent key, and streams ``/export?format=csv``;
3. samples the RSS of the server processes (psutil, every 20 ms) while the client reads;
4. checks the row count, verifies the chain, prints a summary and writes
   bench/results/export_bench.json. The org is dropped at the end unless --keep.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "metaqore_site.settings")
# Creates and drops throwaway orgs (schemas): the owner database role (README "Security").
os.environ.setdefault("METAQORE_DB_ROLE", "owner")

import django

django.setup()

import psutil
from django.db import DatabaseError, connection, transaction

from access.keys import agent_key_create
from compliance.chain import (
    CHAIN_VERSION,
    EVENT_FIELDS,
    canonical_json,
    event_hash,
    format_timestamp,
    new_salt,
    personal_digest,
)
from compliance.models import AuditChainHead
from compliance.selectors import audit_chain_verify
from tenants.services import organization_create

EVENT_TYPES = (
    "artifact.declared",
    "artifact.transitioned",
    "conflict.detected",
    "conflict.resolved",
    "routing.decision",
    "routing.veto",
    "task.updated",
    "project.updated",
)
PROVIDERS = ("openai", "anthropic", "local", "")
COLUMNS = EVENT_FIELDS  # the table's columns, in the order COPY writes them


def load_events(organization: str, count: int) -> float:
    """Append ``count`` chained events after the current head with COPY; returns seconds."""
    started = time.perf_counter()
    head = AuditChainHead.objects.get(pk=1)
    seq, prev_hash = head.seq, head.hash
    base = datetime.now(UTC) - timedelta(seconds=count // 1000 + 1)
    copy_sql = f"COPY compliance_auditevent ({', '.join(COLUMNS)}) FROM STDIN"
    with transaction.atomic(), connection.cursor() as cursor:
        # A bulk load is not a million live events: skip row triggers (e.g. NOTIFY) when the
        # database role may (superuser); the rows and their chain are the same either way.
        try:
            with transaction.atomic():
                cursor.execute("SET LOCAL session_replication_role = replica")
        except DatabaseError:
            pass
        _copy_rows(cursor, copy_sql, organization, count, seq, prev_hash, base)
    return time.perf_counter() - started


def _copy_rows(cursor, copy_sql, organization, count, seq, prev_hash, base) -> None:
    with cursor.cursor.copy(copy_sql) as copy:
        for n in range(count):
            seq += 1
            agent = f"agent-{n % 50}"
            event_type = EVENT_TYPES[n % len(EVENT_TYPES)]
            payload = {"i": n, "artifact_id": f"art_{n:016x}", "note": "benchmark event"}
            if event_type == "routing.veto":
                payload["policy_violated"] = ("no-external", "pii", "secrets")[n % 3]
            timestamp = base + timedelta(microseconds=n * 1000)
            fields = {
                "id": f"evt_{secrets.token_hex(8)}",
                "seq": seq,
                "timestamp": format_timestamp(timestamp),
                "event_type": event_type,
                "organization": organization,
                "actor": f"agent:{agent}",
                "agent_name": agent,
                "provider": PROVIDERS[n % len(PROVIDERS)],
                "task_type": "code",
                "project_id": f"proj_{n % 100:016x}",
                "resource_type": "artifact",
                "resource_id": payload["artifact_id"],
                "request_id": f"{n:032x}",
                "payload": payload,
                "chain_version": CHAIN_VERSION,
                "salt": new_salt(),
            }
            fields["personal_digest"] = personal_digest(fields)
            digest = event_hash(prev_hash, fields)
            copy.write_row(
                (
                    *(fields[name] for name in COLUMNS[:2]),
                    timestamp,
                    *(fields[name] for name in COLUMNS[3:13]),
                    canonical_json(payload),
                    prev_hash,
                    digest,
                    CHAIN_VERSION,
                    fields["personal_digest"],
                    fields["salt"],
                    "",
                )
            )
            prev_hash = digest
    AuditChainHead.objects.filter(pk=1).update(seq=seq, hash=prev_hash)
    cursor.execute("ANALYZE compliance_auditevent")


def free_port(first: int) -> int:
    for port in range(first, 8300):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 8201-8299")


def start_server(kind: str, port: int) -> subprocess.Popen:
    if kind == "runserver":
        command = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
    else:
        command = [
            sys.executable, "-m", "gunicorn", "metaqore_site.asgi:application",
            "--worker-class", "uvicorn_worker.UvicornWorker", "--workers", "1",
            "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "--timeout", "600",
        ]  # fmt: skip
    env = {**os.environ, "METAQORE_ENABLE_RATE_LIMIT": "false"}
    process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{kind} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{kind} did not start")


class RssSampler(threading.Thread):
    """Peak RSS of the server process tree, sampled every 20 ms."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.peak_by_pid: dict[int, int] = {}
        self.peak_total = 0
        self.running = True

    def run(self) -> None:
        while self.running:
            try:
                processes = [self.root, *self.root.children(recursive=True)]
                total = 0
                for process in processes:
                    rss = process.memory_info().rss
                    total += rss
                    self.peak_by_pid[process.pid] = max(self.peak_by_pid.get(process.pid, 0), rss)
                self.peak_total = max(self.peak_total, total)
            except psutil.Error:
                pass
            time.sleep(0.02)


def stream_export(port: int, slug: str, key: str, fmt: str) -> tuple[float, int, int, float]:
    """(seconds, bytes, lines, seconds to first byte)"""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request(
        "GET",
        f"/api/v1/governance/compliance/export?format={fmt}",
        headers={"X-MetaQore-Org": slug, "X-API-Key": key},
    )
    response = conn.getresponse()
    if response.status != 200:
        raise RuntimeError(f"export failed: {response.status} {response.read()[:500]!r}")
    first_byte = None
    size = lines = 0
    while chunk := response.read(1 << 20):
        if first_byte is None:
            first_byte = time.perf_counter() - started
        size += len(chunk)
        lines += chunk.count(b"\n")
    conn.close()
    return time.perf_counter() - started, size, lines, first_byte or 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--format", default="csv", choices=["csv", "jsonl", "json"])
    parser.add_argument("--server", default="gunicorn", choices=["gunicorn", "runserver"])
    parser.add_argument("--port", type=int, default=8201)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark org")
    args = parser.parse_args()

    slug = f"bench-{secrets.token_hex(3)}"
    connection.set_schema_to_public()
    organization = organization_create(slug=slug, name="Export bench", domain=f"{slug}.localhost")
    server = sampler = None
    try:
        connection.set_tenant(organization)
        load_seconds = load_events(slug, args.events)
        print(f"loaded {args.events:,} events in {load_seconds:.1f} s", flush=True)
        key = agent_key_create(agent_name="bench", privileged=True).key
        total_events = AuditChainHead.objects.get(pk=1).seq
        connection.close()

        port = free_port(args.port)
        server = start_server(args.server, port)
        time.sleep(1.0)  # let the worker finish importing before measuring its baseline
        sampler = RssSampler(server.pid)
        sampler.start()
        time.sleep(0.3)
        baseline = sampler.peak_total
        seconds, size, lines, first_byte = stream_export(port, slug, key, args.format)
        time.sleep(0.1)
        sampler.running = False
        sampler.join()

        rows = lines - 1 if args.format == "csv" else lines
        if args.format == "csv" and rows != total_events:
            raise RuntimeError(f"expected {total_events} rows, got {rows}")
        connection.set_tenant(organization)
        verify_started = time.perf_counter()
        verified = audit_chain_verify()
        verify_seconds = time.perf_counter() - verify_started
        mb = 1024 * 1024
        result = {
            "events": total_events,
            "format": args.format,
            "server": args.server,
            "seconds": round(seconds, 2),
            "events_per_second": round(total_events / seconds),
            "first_byte_seconds": round(first_byte, 3),
            "bytes": size,
            "peak_rss_mb_largest_process": round(max(sampler.peak_by_pid.values()) / mb, 1),
            "peak_rss_mb_all_server_processes": round(sampler.peak_total / mb, 1),
            "rss_mb_before_export_all_server_processes": round(baseline / mb, 1),
            "load_seconds": round(load_seconds, 1),
            "verify_ok": verified.ok,
            "verify_seconds": round(verify_seconds, 1),
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
            "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        print(json.dumps(result, indent=2))
        size_tag = "" if args.events == 1_000_000 else f"_{args.events}"
        name = f"export_bench_{args.format}_{args.server}{size_tag}.json"
        out = ROOT / "bench" / "results" / name
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
    finally:
        if sampler is not None:
            sampler.running = False
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        if not args.keep:
            connection.close()
            connection.set_schema_to_public()
            organization.delete(force_drop=True)


if __name__ == "__main__":
    main()
