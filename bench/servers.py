"""The MetaQore server a benchmark measures, started the production way: the API server
(Granian's WSGI workers, metaqore_site.api_server) or gunicorn's workers, DEBUG off, the
runtime database role, rate limiting ON with its counters in Redis. Used by run.py and
cpu_split.py; no Django here (the server's processes load it)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import redis
from loadgen import wait_until_up

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def redis_url() -> str:
    """Production counts rate limits in Redis; so does the benchmark."""
    url = (
        os.environ.get("REDIS_URL")
        or os.environ.get("METAQORE_TEST_REDIS_URL")
        or "redis://127.0.0.1:6379/0"
    )
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        raise SystemExit(f"The benchmark needs Redis (REDIS_URL, now {url}): {exc}") from None
    return url


def default_workers(server: str) -> int:
    """What each server runs by default: the API server one worker per core
    (metaqore_site.api_server), gunicorn 2 x cores (gunicorn.conf.py)."""
    cores = os.cpu_count() or 2
    return cores if server == "api" else 2 * cores


def start_server(port: int, workers: int, server: str = "api") -> subprocess.Popen:
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        # Rate limiting ON, counted in Redis as in production; the limits are so high that no
        # request is refused, but every one pays for its counters.
        "REDIS_URL": redis_url(),
        "METAQORE_CACHE_KEY_PREFIX": f"bench-{secrets.token_hex(4)}",
        "METAQORE_ENABLE_RATE_LIMIT": "true",
        "METAQORE_RATE_LIMIT_PER_MINUTE": "10000000",
        "METAQORE_RATE_LIMIT_BURST": "100000000",
        "METAQORE_SECURE_COOKIES": "false",
        "METAQORE_LOG_LEVEL": "WARNING",
        "METAQORE_DB_ROLE": "runtime",  # as production serves (this process sets up as owner)
    }
    if server == "api":  # production's API server: Granian, WSGI (its module says why)
        env.update(WEB_CONCURRENCY=str(workers), METAQORE_BIND="127.0.0.1", PORT=str(port))
        command = [sys.executable, "-m", "metaqore_site.api_server"]
    else:
        if server == "wsgi":  # gunicorn's threaded WSGI workers: no sync/async switches
            app, worker = "metaqore_site.wsgi:application", ["-k", "gthread", "--threads", "4"]
        else:  # the all-in-one server: uvicorn workers (ASGI), needed for SSE and WebSockets
            app, worker = "metaqore_site.asgi:application", ["-k", "uvicorn_worker.UvicornWorker"]
        command = [
            sys.executable, "-m", "gunicorn", app, *worker, "--workers", str(workers),
            "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
        ]  # fmt: skip
    log = (RESULTS / "server.log").open("w")  # access logs and warnings, away from the table
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT
    )
    wait_until_up(f"http://127.0.0.1:{port}/api/v1/health", proc, "the benchmark server")
    return proc
