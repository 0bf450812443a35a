"""Seconds to provision one organization: cloning the template schema vs migrating from scratch.

Times ``organization_create`` in-process (the org row, its schema, domain, role groups and first
audit event): first with a stale template, which the first org rebuilds (cold: what the first
org after a deploy that changed migrations pays), then N orgs cloned from the warm template,
then N orgs with every migration run from scratch (``Organization.clone_from_template =
False``, django-tenants' default way). Writes bench/results/provisioning.json; every org it
creates is dropped at the end.

    .venv/bin/python bench/provisioning.py [--orgs 10] [--output bench/results/provisioning.json]

Uses the embedded database (or DATABASE_URL).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
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

from django.db import connection
from django_tenants.utils import schema_exists
from machine import machine

from tenants.models import Organization
from tenants.provisioning import TEMPLATE_SCHEMA
from tenants.services import organization_create


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def summary(seconds: list[float]) -> dict:
    return {
        "orgs": len(seconds),
        "mean": round(statistics.mean(seconds), 3),
        "p50": round(percentile(seconds, 0.50), 3),
        "p95": round(percentile(seconds, 0.95), 3),
        "max": round(max(seconds), 3),
    }


def timed_create(slug: str, created: list[Organization]) -> tuple[float, str]:
    began = time.perf_counter()
    organization = organization_create(slug=slug, name=slug, domain=f"{slug}.localhost")
    seconds = time.perf_counter() - began
    created.append(organization)
    return seconds, organization.provisioned_by or ""


def run(orgs: int) -> dict:
    prefix = f"prov{int(time.time()) % 100000}"
    created: list[Organization] = []
    try:
        # Stale, as after a deploy with a new migration: the next org rebuilds the template.
        if schema_exists(TEMPLATE_SCHEMA):
            with connection.cursor() as cursor:
                cursor.execute(f"COMMENT ON SCHEMA {TEMPLATE_SCHEMA} IS 'stale (bench)'")
        cold, how = timed_create(f"{prefix}-cold", created)
        assert how == "clone", how

        cloned = []
        for index in range(orgs):
            seconds, how = timed_create(f"{prefix}-c{index}", created)
            assert how == "clone", how
            cloned.append(seconds)

        Organization.clone_from_template = False
        try:
            migrated = []
            for index in range(orgs):
                seconds, how = timed_create(f"{prefix}-m{index}", created)
                assert how == "migrate", how
                migrated.append(seconds)
        finally:
            Organization.clone_from_template = True
    finally:
        connection.set_schema_to_public()
        for organization in created:
            organization.delete(force_drop=True)

    clone, migrate = summary(cloned), summary(migrated)
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "what": "organization_create in-process: org row, schema, domain, roles, first event",
        "cold_template_rebuild_then_clone_seconds": round(cold, 3),
        "clone": clone,
        "migrate_from_scratch": migrate,
        "speedup_mean": round(migrate["mean"] / clone["mean"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orgs", type=int, default=10)
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "provisioning.json"))
    args = parser.parse_args()
    report = run(args.orgs)
    cold = report["cold_template_rebuild_then_clone_seconds"]
    print(f"cold (template rebuilt, then cloned): {cold} s")
    for name in ("clone", "migrate_from_scratch"):
        row = report[name]
        print(
            f"{name:22s} n={row['orgs']}  mean {row['mean']} s  p50 {row['p50']} s  "
            f"p95 {row['p95']} s  max {row['max']} s"
        )
    print(f"speedup (mean): {report['speedup_mean']}x")
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
