"""Where one request's server CPU goes: Django's WSGI handler called in process (what each
uvicorn worker's threads do), no network and no load generator, so the numbers hold on a
busy machine. Settings as in production (DEBUG off, rate limiting ON in Redis).

    .venv/bin/python bench/profile_requests.py [--kind health|read|declare|all]
        [--requests 2000] [--profile] [--top 40]

Prints CPU milliseconds per request and the statements each request sent to PostgreSQL
(counted at psycopg, so pool checks and connection setup count too); ``--profile`` adds a
cProfile table (cumulative and own time). Uses a throwaway org, dropped at the end.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import secrets
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "metaqore_site.settings")
# Creates and drops a throwaway org: the owner database role (README "Security").
os.environ.setdefault("METAQORE_DB_ROLE", "owner")
os.environ.update(
    {
        "DEBUG": "false",
        "METAQORE_ENABLE_RATE_LIMIT": "true",
        "METAQORE_RATE_LIMIT_PER_MINUTE": "10000000",
        "METAQORE_RATE_LIMIT_BURST": "100000000",
        "METAQORE_CACHE_KEY_PREFIX": f"profile-{secrets.token_hex(4)}",
        "METAQORE_LOG_LEVEL": "WARNING",
        "METAQORE_SECURE_COOKIES": "false",
    }
)
os.environ.setdefault(
    "REDIS_URL", os.environ.get("METAQORE_TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"
)

import django

django.setup()

import psycopg
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection

from access.actors import Actor
from access.keys import agent_key_create
from projects.services import project_create
from tenants.services import organization_create

STATEMENTS = [0]


def _counting(method):
    def execute(self, *args, **kwargs):
        STATEMENTS[0] += 1
        return method(self, *args, **kwargs)

    return execute


psycopg.Cursor.execute = _counting(psycopg.Cursor.execute)  # type: ignore[method-assign]
psycopg.Connection.execute = _counting(psycopg.Connection.execute)  # type: ignore[method-assign]


def environ(method: str, path: str, host: str, key: str | None, body: bytes = b"") -> dict:
    env = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": host,
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": host,
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }
    if key:
        env["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    if body:
        env["CONTENT_TYPE"] = "application/json"
        env["CONTENT_LENGTH"] = str(len(body))
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", default="all", choices=["health", "read", "declare", "all"])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()

    slug = f"prof-{secrets.token_hex(3)}"
    host = f"{slug}.localhost"
    organization = organization_create(slug=slug, name="Profile", domain=host)
    try:
        connection.set_tenant(organization)
        key = agent_key_create(agent_name="profiler").key
        project = project_create(actor=Actor("agent", "profiler"), name="small").id
        connection.set_schema_to_public()
        handler = WSGIHandler()
        kinds = ["health", "read", "declare"] if args.kind == "all" else [args.kind]
        for kind in kinds:
            counter = iter(range(10**9))

            def request(kind=kind, counter=counter):
                n = next(counter)
                if kind == "health":
                    env = environ("GET", "/api/v1/health", host, None)
                elif kind == "read":
                    env = environ("GET", f"/api/v1/projects/{project}", host, key)
                else:
                    body = json.dumps(
                        {"project_id": project, "artifact_type": f"p{n % 8}", "data": {}}
                    )
                    env = environ("POST", "/api/v1/artifacts", host, key, body.encode())
                statuses = []
                chunks = handler(env, lambda status, headers, *_: statuses.append(status))
                b"".join(chunks)
                if hasattr(chunks, "close"):
                    chunks.close()
                if not statuses[0].startswith(("200", "201")):
                    raise SystemExit(f"{kind}: {statuses[0]}")

            for _ in range(min(200, args.requests)):  # warm-up
                request()
            STATEMENTS[0] = 0
            # CPU time, not wall time: on a shared machine waits dwarf everything else.
            profiler = cProfile.Profile(time.process_time) if args.profile else None
            began_cpu, began = time.process_time(), time.perf_counter()
            if profiler:
                profiler.enable()
            for _ in range(args.requests):
                request()
            if profiler:
                profiler.disable()
            cpu, wall = time.process_time() - began_cpu, time.perf_counter() - began
            print(
                f"{kind}: {1000 * cpu / args.requests:.3f} ms CPU, "
                f"{1000 * wall / args.requests:.3f} ms wall per request, "
                f"{STATEMENTS[0] / args.requests:.2f} statements"
            )
            if profiler:
                for order in ("cumulative", "tottime"):
                    stats = pstats.Stats(profiler).strip_dirs().sort_stats(order)
                    stats.print_stats(args.top)
    finally:
        connection.set_schema_to_public()
        organization.delete(force_drop=True)


if __name__ == "__main__":
    main()
