"""Server-rendered SVG geometry: plain numbers the templates draw (no JS, no CDN)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta


@dataclass
class LineChart:
    width: int
    height: int
    days: list[date]
    series: list[dict]  # {"name", "css", "points": "x,y x,y", "values": [...]}
    y_max: int
    y_ticks: list[dict]
    x_labels: list[dict]


def daily_line_chart(
    counts: dict[str, dict[date, int]],
    *,
    days: int = 30,
    today: date,
    width: int = 720,
    height: int = 220,
) -> LineChart:
    """One polyline per series over the last ``days`` days (missing days count 0)."""
    left, right, top, bottom = 36, 10, 10, 24
    span = [today - timedelta(days=days - 1 - i) for i in range(days)]
    y_max = max([1, *[n for per_day in counts.values() for n in per_day.values()]])
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(i: int) -> float:
        return left + plot_w * i / max(days - 1, 1)

    def y(value: int) -> float:
        return top + plot_h * (1 - value / y_max)

    series = []
    for name, per_day in counts.items():
        values = [per_day.get(day, 0) for day in span]
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        series.append(
            {
                "name": name,
                "css": name.lower().replace(" ", "-"),
                "points": points,
                "values": values,
            }
        )
    ticks = sorted({0, y_max // 2, y_max})
    return LineChart(
        width=width,
        height=height,
        days=span,
        series=series,
        y_max=y_max,
        y_ticks=[{"y": round(y(t), 1), "label": t} for t in ticks],
        x_labels=[
            {"x": round(x(i), 1), "label": span[i].strftime("%b %d")} for i in range(0, days, 7)
        ],
    )


@dataclass
class Graph:
    width: int
    height: int
    nodes: list[dict]
    edges: list[dict]
    columns: list[dict]


def dependency_graph(artifacts: list[dict], *, col_width: int = 190, row_height: int = 46) -> Graph:
    """Artifacts in columns by type (versions top to bottom), edges for depends_on."""
    types = sorted({a["artifact_type"] for a in artifacts})
    by_type: dict[str, list[dict]] = {t: [] for t in types}
    for artifact in sorted(artifacts, key=lambda a: (a["artifact_type"], -a["version"])):
        by_type[artifact["artifact_type"]].append(artifact)
    positions: dict[str, tuple[float, float]] = {}
    nodes = []
    for col, artifact_type in enumerate(types):
        for row, artifact in enumerate(by_type[artifact_type]):
            cx, cy = 20 + col * col_width, 40 + row * row_height
            positions[artifact["id"]] = (cx, cy)
            nodes.append({**artifact, "x": cx, "y": cy, "w": col_width - 40, "h": row_height - 14})
    edges = []
    for artifact in artifacts:
        for dependency in artifact["depends_on"]:
            if dependency in positions and artifact["id"] in positions:
                (x1, y1), (x2, y2) = positions[artifact["id"]], positions[dependency]
                edges.append(
                    {
                        "x1": x1,
                        "y1": y1 + (row_height - 14) / 2,
                        "x2": x2 + col_width - 40,
                        "y2": y2 + (row_height - 14) / 2,
                    }
                )
    rows = max((len(v) for v in by_type.values()), default=0)
    return Graph(
        width=max(len(types), 1) * col_width,
        height=60 + rows * row_height,
        nodes=nodes,
        edges=edges,
        columns=[{"label": t, "x": 20 + i * col_width} for i, t in enumerate(types)],
    )
