"""How long ``manage.py migrate_schemas`` takes over many organizations, per executor.

Creates N orgs (cloned from the template), then times the command as an operator runs it (public
schema, then every org), with each of django-tenants' executors: standard (one schema after the
other in one process), multiprocessing (a pool of TENANT_MULTIPROCESSING_MAX_PROCESSES forked
workers, default 2) and subprocess (a `manage.py migrate_schemas --schema` process per org,
`--parallel` = cores at a time):

- nothing to apply (every deploy without a migration still runs it);
- one pending migration in every org: the newest migration of --app rolled back in each of the
  N orgs first (untimed), then migrated forward again (timed).

Writes bench/results/migrate_orgs.json; the orgs are dropped at the end (also on failure).

    .venv/bin/python bench/migrate_orgs.py [--orgs 100] [--app artifacts]

Uses the embedded database (or DATABASE_URL); other orgs in that database are migrated too and
counted in the report.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "metaqore_site.settings")
# Creates and drops throwaway orgs (schemas): the owner database role (README "Security").
os.environ.setdefault("METAQORE_DB_ROLE", "owner")

import django

django.setup()

from django.conf import settings
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from machine import machine

from tenants.models import Organization
from tenants.provisioning import schema_migrate
from tenants.services import organization_create

PARALLEL = os.cpu_count() or 2
EXECUTORS = {
    "standard": ["--executor=standard"],
    "multiprocessing": ["--executor=multiprocessing"],
    f"subprocess --parallel {PARALLEL}": ["--executor=subprocess", f"--parallel={PARALLEL}"],
}


def migrate_schemas(*args: str) -> float:
    """Seconds of one `manage.py migrate_schemas` run (a process of its own, as in a deploy)."""
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "manage.py", "migrate_schemas", "--noinput", "-v", "0", *args],
        cwd=ROOT,
        check=True,
    )
    return round(time.perf_counter() - began, 2)


def newest_and_previous(app_label: str) -> tuple[str, str]:
    graph = MigrationLoader(None, ignore_no_migrations=True).graph
    newest = max(name for app, name in graph.leaf_nodes() if app == app_label)
    parents = [p.key[1] for p in graph.node_map[app_label, newest].parents if p.key[0] == app_label]
    if not parents:
        raise SystemExit(f"{app_label} has a single migration: nothing to roll back")
    return newest, parents[0]


def run(orgs: int, app_label: str) -> dict:
    newest, previous = newest_and_previous(app_label)
    prefix = f"mig{int(time.time()) % 100000}"
    created: list[Organization] = []
    results: dict[str, dict[str, float]] = {"nothing_to_apply": {}, "one_pending_migration": {}}
    try:
        creating: list[float] = []  # seconds per org: grows with the catalog (all schemas)
        for index in range(orgs):
            slug = f"{prefix}-{index}"
            began = time.perf_counter()
            created.append(organization_create(slug=slug, name=slug, domain=f"{slug}.localhost"))
            creating.append(time.perf_counter() - began)
            if (index + 1) % 25 == 0:
                print(f"created {index + 1} orgs", flush=True)
        connection.set_schema_to_public()
        tenants = Organization.objects.count()

        for executor, options in EXECUTORS.items():
            seconds = migrate_schemas(*options)
            results["nothing_to_apply"][executor] = seconds
            print(f"nothing to apply, {executor}: {seconds} s", flush=True)
        for executor, options in EXECUTORS.items():
            # Every org of ours one migration behind, as right after deploying code with a new
            # one (orgs of others in the database are left alone: nothing to apply for them).
            for organization in created:
                schema_migrate(organization.schema_name, app_label, previous)
            seconds = migrate_schemas(*options)
            results["one_pending_migration"][executor] = seconds
            print(f"{app_label}.{newest} pending, {executor}: {seconds} s", flush=True)
    finally:
        connection.set_schema_to_public()
        for organization in created:
            organization.delete(force_drop=True)

    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "orgs_created": orgs,
        "orgs_migrated": tenants,
        "creating_orgs": {
            "seconds": round(sum(creating), 2),
            "first_10_mean": round(statistics.mean(creating[:10]), 3),
            "last_10_mean": round(statistics.mean(creating[-10:]), 3),
            "p50": round(statistics.median(creating), 3),
            "max": round(max(creating), 3),
        },
        "multiprocessing_processes": getattr(settings, "TENANT_MULTIPROCESSING_MAX_PROCESSES", 2),
        "pending_migration": f"{app_label}.{newest}",
        "command": "manage.py migrate_schemas --noinput -v 0 <executor options>",
        "seconds": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orgs", type=int, default=100)
    parser.add_argument(
        "--app", default="artifacts", help="app whose newest migration is left pending"
    )
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "migrate_orgs.json"))
    args = parser.parse_args()
    report = run(args.orgs, args.app)
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["seconds"], indent=2))


if __name__ == "__main__":
    main()
