"""What differs between two artifacts' content, for the conflict page: ``data`` key by key
(nested objects flattened to dotted paths), ``file_paths`` path by path and ``requirements``
package by package, each row marked same, changed, or only on one side."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from artifacts.models import Artifact

MAX_ROWS = 300  # per section; the rest is counted, not shown
MAX_DEPTH = 4  # deeper objects are compared as one value
VALUE_CHARS = 300

MISSING = object()


@dataclass(frozen=True)
class DiffRow:
    key: str
    left: str  # rendered value, "" when missing
    right: str
    status: str  # "same", "changed", "left" (only in the blocked artifact), "right"


@dataclass(frozen=True)
class DiffSection:
    name: str
    rows: list[DiffRow]
    changed: int  # rows that are not "same"
    hidden: int  # rows past MAX_ROWS


def _render(value: Any) -> str:
    if value is MISSING:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1] + "…"


def _flatten(value: Any, prefix: str = "", depth: int = 0) -> dict[str, Any]:
    if isinstance(value, dict) and value and depth < MAX_DEPTH:
        flat: dict[str, Any] = {}
        for key in value:
            path = f"{prefix}.{key}" if prefix else str(key)
            flat.update(_flatten(value[key], path, depth + 1))
        return flat
    return {prefix or "(value)": value}


def _section(name: str, left: dict[str, Any], right: dict[str, Any]) -> DiffSection:
    rows = []
    for key in sorted(set(left) | set(right)):
        a, b = left.get(key, MISSING), right.get(key, MISSING)
        if a is MISSING:
            status = "right"
        elif b is MISSING:
            status = "left"
        else:
            status = "same" if a == b else "changed"
        rows.append(DiffRow(key=key, left=_render(a), right=_render(b), status=status))
    changed = sum(row.status != "same" for row in rows)
    # Differences first, so a long list never hides them below the cut.
    rows.sort(key=lambda row: row.status == "same")
    return DiffSection(name, rows[:MAX_ROWS], changed, max(0, len(rows) - MAX_ROWS))


def content_diff(left: Artifact, right: Artifact) -> list[DiffSection]:
    """Sections ``data``, ``file_paths`` and ``requirements`` of two artifacts (``left`` is
    the blocked one)."""
    return [
        _section("data", _flatten(left.data or {}), _flatten(right.data or {})),
        _section(
            "file_paths",
            {path: "declared" for path in left.file_paths or []},
            {path: "declared" for path in right.file_paths or []},
        ),
        _section("requirements", dict(left.requirements or {}), dict(right.requirements or {})),
    ]
