"""Declaration cost vs project size: governance must not load the project to check one artifact.

Fills a project with N artifacts straight in SQL (1,000 lines x N/1,000 versions, 10% live
drafts, each with a file path and a package requirement), then times ``artifact_declare``
(locks, every conflict check, the write and its audit events) in-process, for each N.

    .venv/bin/python bench/declare_scaling.py [--sizes 0,1000,10000,100000] [--repeat 200]

Uses the embedded database (or DATABASE_URL) and a throwaway org that is dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "metaqore_site.settings")
# Creates and drops throwaway orgs (schemas): the owner database role (README "Security").
os.environ.setdefault("METAQORE_DB_ROLE", "owner")

import django

django.setup()

from django.db import connection, transaction

from access.actors import Actor
from artifacts.services import artifact_declare
from compliance.audit import audit_record
from metaqore_site.governed import governed_writes
from projects.services import project_create
from tenants.services import organization_create

FILL_SQL = """
INSERT INTO artifacts_artifact (id, project_id, artifact_type, version, data, created_by,
    state, depends_on, file_paths, requirements, metadata, content_hash, is_blocked,
    created_at, updated_at)
SELECT 'art_' || lpad(to_hex(g), 16, '0'), %(project)s, 'line' || (g %% 1000), g / 1000 + 1,
    jsonb_build_object('i', g), 'agent:a' || (g %% 50),
    CASE WHEN g %% 10 = 0 THEN 'draft' ELSE 'archived' END,
    '[]'::jsonb, jsonb_build_array('src/f' || g || '.py'),
    jsonb_build_object('pkg' || (g %% 500), '>=1'), '{}'::jsonb, md5(g::text) || md5(g::text),
    false, now(), now()
FROM generate_series(%(start)s, %(stop)s - 1) AS g
"""


def fill(project_id: str, start: int, stop: int) -> None:
    """Governed tables take no write without a declared actor and an audit event in the same
    transaction (README "No side doors"): the bulk load is an operator's change, audited once
    as ``governed.emergency_change`` like ``manage.py governed_change`` (without the list of
    every row, which would be the whole fill)."""
    if stop > start:
        actor = Actor("operator", "bench")
        with transaction.atomic(), governed_writes(actor):
            with connection.cursor() as cursor:
                cursor.execute(FILL_SQL, {"project": project_id, "start": start, "stop": stop})
            audit_record(
                event_type="governed.emergency_change",
                actor=actor,
                resource_type="governed_tables",
                resource_id="artifacts_artifact",
                project_id=project_id,
                payload={"reason": "benchmark fill", "rowcount": stop - start},
            )
        with connection.cursor() as cursor:
            # What autovacuum does to a table soon after a bulk insert: statistics and the
            # visibility map (index-only counts).
            cursor.execute("VACUUM ANALYZE artifacts_artifact")


def measure(project, repeat: int, tag: str) -> dict:
    actor = Actor("agent", "bench")
    timings = []
    for i in range(repeat):
        began = time.perf_counter()
        artifact_declare(
            actor=actor,
            project=project,
            artifact_type=f"bench-{tag}-{i}",
            data={"i": i},
            file_paths=[f"bench/{tag}/{i}.py", "src/f7.py"],
            requirements={"pkg7": ">=2", "django": ">=5.2"},
        )
        timings.append((time.perf_counter() - began) * 1000)
    timings.sort()
    return {
        "p50_ms": round(statistics.median(timings), 2),
        "p95_ms": round(timings[int(len(timings) * 0.95) - 1], 2),
        "mean_ms": round(statistics.fmean(timings), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0,1000,10000,100000")
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    slug = f"bench-{int(time.time())}"
    organization = organization_create(slug=slug, name="bench", domain=f"{slug}.bench.invalid")
    results = {}
    try:
        connection.set_tenant(organization)
        project = project_create(actor=Actor("agent", "bench"), name="scaling")
        filled = 0
        for size in sorted(sizes):
            fill(project.id, filled, size)
            filled = max(filled, size)
            results[size] = measure(project, args.repeat, str(size))
            print(f"{size:>8} artifacts: {results[size]}", flush=True)
    finally:
        connection.set_schema_to_public()
        organization.delete(force_drop=True)

    smallest, largest = min(sizes), max(sizes)
    ratio = results[largest]["p50_ms"] / results[smallest]["p50_ms"]
    print(f"p50 at {largest} / p50 at {smallest}: {ratio:.2f}")
    out = Path(__file__).resolve().parent / "results" / "declare_scaling.json"
    out.write_text(
        json.dumps({"repeat": args.repeat, "results": results, "ratio": ratio}, indent=2)
    )


if __name__ == "__main__":
    main()
