"""What a benchmark run prints and keeps: the overhead ratios (bench/overhead.py), a table of
every scenario and issue #11's ratios (declarations over the health ceiling, scaling, the
export's peak memory)."""

from __future__ import annotations

import json

import overhead


def report(data: dict) -> None:
    overhead_rows = [row for row in data["results"] if row["scenario"].startswith("overhead_")]
    overhead.report(overhead_rows, data["overhead"])
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
    return max(
        (row["rps"] for row in results if row["scenario"].startswith("ceiling_")), default=0.0
    )


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
    if "export_csv" in by_name:
        out["export_peak_rss_mb"] = by_name["export_csv"]["peak_worker_rss_mb"]
    return out
