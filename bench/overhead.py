"""Request overhead against a reference (issue #24): MetaQore's health check, an authenticated
read and a governed declaration, each as a ratio to a FastAPI hello world measured in the same
run with the same client.

Both servers run side by side. Every round measures each target for the same number of seconds
with 8 clients (each its own keep-alive connection, the next request sent when the answer
arrives); rounds alternate the order of the targets, so a slow spell of the shared machine
hits all of them rather than one. A ratio is MetaQore's requests/s over the reference's, both
summed over all rounds; the per-round ratios are reported beside it. Then the declarations are
sent open loop at half the rate they reached, for their latency without queueing.

MetaQore runs as in production: the API server (Granian's WSGI workers, one per core), rate
limiting ON with Redis (limits set so high that nothing is refused: every request still pays
for its counters). ``bench/run.py --server asgi`` measures the all-in-one gunicorn + uvicorn
server instead.
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from loadgen import MakeRequest, load, paced_load, summarize, wait_until_up

CLIENTS = 8
# The targets of issue #24 (ratios to the reference; p99 in ms at half the declare rate).
TARGETS = {"health": 0.50, "read": 0.35, "declare": 0.20}
HALF_RATE_P99_TARGET_MS = 50.0


def start_reference(port: int, root: Path, log: Path) -> subprocess.Popen:
    """uvicorn with one worker, its defaults otherwise (uvloop, httptools, access log)."""
    command = [
        sys.executable, "-m", "uvicorn", "reference_app:app", "--app-dir", str(root / "bench"),
        "--workers", "1", "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    proc = subprocess.Popen(
        command,
        cwd=root,
        start_new_session=True,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    wait_until_up(f"http://127.0.0.1:{port}/health", proc, "the reference server")
    return proc


def measure(
    *,
    reference: str,
    metaqore: str,
    domain: str,
    keys: list[str],
    read_project: str,
    new_project: Callable[[], str],
    rounds: int,
    seconds: float,
    half_rate_seconds: float,
) -> list[dict]:
    """The overhead scenarios' result rows (``overhead_*``)."""
    agents = [{"Host": domain, "Authorization": f"Bearer {key}"} for key in keys[:CLIENTS]]
    run_id = secrets.token_hex(3)
    project = {"id": new_project()}

    def declare(worker: int, n: int) -> tuple[str, str, dict]:
        # Each agent writes its own line in a small project: no conflicts.
        body = {"project_id": project["id"], "artifact_type": f"o-{run_id}-{worker}", "data": {}}
        return "POST", "/api/v1/artifacts", body

    targets: dict[str, tuple[str, dict[str, str] | list[dict[str, str]], MakeRequest]] = {
        "reference": (reference, {}, lambda _w, _n: ("GET", "/health", None)),
        "health": (metaqore, {"Host": domain}, lambda _w, _n: ("GET", "/api/v1/health", None)),
        "read": (
            metaqore,
            agents,
            lambda _w, _n: ("GET", f"/api/v1/projects/{read_project}", None),
        ),
        "declare": (metaqore, agents, declare),
    }

    def one(name: str, duration: float) -> tuple[list[float], int, float]:
        base, headers, make_request = targets[name]
        return asyncio.run(
            load(
                base,
                headers,
                make_request,
                concurrency=CLIENTS,
                total=10**9,
                max_seconds=duration,
            )
        )

    for name in targets:  # warm-up: connections, lazy imports, caches; not counted
        one(name, min(1.0, seconds / 2))
    collected: dict[str, dict] = {
        name: {"lat": [], "err": 0, "secs": 0.0, "rps": []} for name in targets
    }
    order = list(targets)
    for round_number in range(rounds):
        project["id"] = new_project()  # a small project every round
        for name in order if round_number % 2 == 0 else order[::-1]:
            lat, err, secs = one(name, seconds)
            into = collected[name]
            into["rps"].append(len(lat) / secs if secs else 0.0)
            into["lat"].extend(lat)
            into["err"] += err
            into["secs"] += secs
    rows = []
    reference_rps = collected["reference"]["rps"]
    for name, into in collected.items():
        row = summarize(
            f"overhead_{'reference_health' if name == 'reference' else name}",
            into["lat"],
            into["err"],
            into["secs"],
            concurrency=CLIENTS,
            round_rps=[round(value, 1) for value in into["rps"]],
        )
        if name != "reference":
            row["round_ratios"] = [
                round(mine / theirs, 3) if theirs else 0.0
                for mine, theirs in zip(into["rps"], reference_rps, strict=True)
            ]
        rows.append(row)

    declared = next(row for row in rows if row["scenario"] == "overhead_declare")
    rate = declared["rps"] / 2
    project["id"] = new_project()
    lat, err, secs = asyncio.run(paced_load(metaqore, agents, declare, rate, half_rate_seconds))
    rows.append(
        summarize(
            "overhead_declare_half_rate",
            lat,
            err,
            secs,
            concurrency=CLIENTS,
            offered_rps=round(rate, 1),
        )
    )
    return rows


def ratios(rows: list[dict]) -> dict:
    """Each target's ratio to the reference (rps summed over the rounds), its range over the
    rounds, and the declarations' p99 at half rate."""
    by_name = {row["scenario"]: row for row in rows}
    reference = by_name.get("overhead_reference_health")
    if not reference or not reference["rps"]:
        return {}
    out: dict = {"reference_health_rps": reference["rps"]}
    for name in TARGETS:
        row = by_name[f"overhead_{name}"]
        out[f"{name}_over_reference"] = round(row["rps"] / reference["rps"], 3)
        out[f"{name}_over_reference_rounds"] = [min(row["round_ratios"]), max(row["round_ratios"])]
    out["declare_half_rate_p99_ms"] = by_name["overhead_declare_half_rate"]["p99_ms"]
    return out


def report(rows: list[dict], found: dict) -> None:
    """The side-by-side table and each target, met or not."""
    if not found:
        return
    print(f"\n{'request overhead (8 clients)':<34}{'rps':>9}{'p50 ms':>9}{'p99 ms':>9}  ratio")
    for row in rows:
        name = row["scenario"].removeprefix("overhead_")
        ratio = found.get(f"{name}_over_reference")
        print(
            f"{name:<34}{row['rps']:>9}{row['p50_ms']:>9}{row['p99_ms']:>9}"
            + (f"  {ratio:.3f}x" if ratio is not None else "")
            + (f"   errors={row['errors']}" if row["errors"] else "")
        )
    print("targets (issue #24):")
    for name, target in TARGETS.items():
        value = found[f"{name}_over_reference"]
        low, high = found[f"{name}_over_reference_rounds"]
        verdict = "met" if value >= target else "NOT met"
        print(
            f"  {name:<8} {value:.3f}x of the reference (rounds {low:.3f}-{high:.3f}),"
            f" target >= {target:.2f}x: {verdict}"
        )
    p99 = found["declare_half_rate_p99_ms"]
    verdict = "met" if p99 < HALF_RATE_P99_TARGET_MS else "NOT met"
    print(
        f"  declare p99 at half rate {p99} ms, target < {HALF_RATE_P99_TARGET_MS:.0f} ms: {verdict}"
    )
