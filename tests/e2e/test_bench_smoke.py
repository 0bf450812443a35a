"""The benchmark harness runs end to end (a short smoke run): production server, every
scenario, the table and the JSON report."""

import json
import sys

import pytest
from django.db import connection

from tests.processes import ROOT, database_url, subprocess_env

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]

SCENARIOS = {
    "provisioning",
    "overhead_reference_health",
    "overhead_health",
    "overhead_read",
    "overhead_declare",
    "overhead_declare_half_rate",
    "ceiling_health_2_clients",
    "ceiling_health_4_clients",
    "declare_2_agents",
    "declare_4_agents",
    "declare_2_agents_half_load",
    "declare_conflicting_8_agents",
    "scaling_declare_at_100",
    "scaling_declare_at_1000",
    "read_artifact_list_1_client",
    "read_artifact_list_8_clients",
    "read_blocking_report_1_client",
    "read_blocking_report_8_clients",
    "read_conflict_list_1_client",
    "read_conflict_list_8_clients",
    "read_audit_page_1_client",
    "read_audit_page_8_clients",
    "export_csv",
}


def test_bench_smoke(tmp_path):
    import subprocess

    output = tmp_path / "smoke.json"
    env = subprocess_env(DATABASE_URL=database_url(connection.settings_dict))
    result = subprocess.run(
        [sys.executable, "bench/run.py", "--smoke", "--workers", "2", "--output", str(output)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    print(result.stdout)
    assert "ceiling_health" in result.stdout and "ratios:" in result.stdout
    # The reference side by side, each target's ratio and verdict (issue #24).
    assert "reference_health" in result.stdout and "targets (issue #24):" in result.stdout
    report = json.loads(output.read_text())
    rows = {row["scenario"]: row for row in report["results"]}
    assert set(rows) == SCENARIOS
    for name, row in rows.items():
        if "requests" in row:
            assert row["requests"] > 0 and row["errors"] == 0, (name, row, result.stdout[-3000:])
    assert rows["export_csv"]["events"] >= 5000  # the smoke run's export_events
    assert rows["provisioning"]["method"] == "clone"
    assert rows["declare_2_agents_half_load"]["offered_rps"] > 0
    assert report["machine"]["cores"] >= 1 and report["machine"]["commit"]
    assert "declare_8_rps_over_ceiling_rps" not in report["ratios"]  # no 8-agent run in smoke
    assert "export_peak_rss_mb" in report["ratios"]
    found = report["overhead"]
    assert found["reference_health_rps"] > 0
    for name in ("health", "read", "declare"):
        assert found[f"{name}_over_reference"] > 0, found
        low, high = found[f"{name}_over_reference_rounds"]
        assert 0 < low <= high, found
    assert found["declare_half_rate_p99_ms"] > 0
    assert rows["overhead_declare_half_rate"]["offered_rps"] > 0
    assert report["settings"]["rate_limiting"] == "on (Redis)"
