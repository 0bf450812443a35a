"""Exports of the audit trail (CSV, JSON report, JSONL), streamed chunk by chunk.

The API view and the ``audit_export`` command share this module: ``export_prepare`` counts,
builds the report and records ``compliance.exported`` (a short transaction of its own), then
``export_chunks`` streams the events over a server-side cursor, so memory stays flat in the
number of events. Events are immutable and the export is bounded by the chain head seen at
``export_prepare`` time, so the stream holds exactly ``count`` events.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.db.models import Count, F, Func, QuerySet, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone

from access.actors import Actor
from compliance.audit import audit_record, current_organization_slug
from compliance.chain import EVENT_FIELDS, canonical_json, format_timestamp, row_as_dict
from compliance.models import AuditChainHead

FORMATS: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "jsonl": "application/x-ndjson",
}
CSV_COLUMNS = (
    "timestamp",
    "event_type",
    "organization",
    "actor",
    "agent_name",
    "provider",
    "task_type",
    "project_id",
    "resource_type",
    "resource_id",
    "seq",
    "hash",
    "payload",
    # after the documented columns: what a reader needs to tie a row back to the chain
    "id",
    "prev_hash",
    "request_id",
    "chain_version",
    "personal_digest",
    "salt",
    "erasure_id",
)
# A spreadsheet evaluates cells starting with these as formulas (CSV/formula injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_TRIGGER_SET = frozenset(FORMULA_TRIGGERS)
CHUNK_SIZE = 2000  # rows fetched from the server-side cursor and rendered per chunk
# chain.TIMESTAMP_FORMAT in to_char's spelling (UTC, always 6 fraction digits).
PG_TS = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'


class ExportError(ValueError):
    """An export request that cannot be served (unknown format)."""


@dataclass
class Export:
    format: str
    organization: str
    queryset: QuerySet
    count: int
    upto_seq: int
    generated_at: datetime
    report: dict[str, Any] | None = None
    filters: dict[str, str] = field(default_factory=dict)

    @property
    def content_type(self) -> str:
        return FORMATS[self.format]

    @property
    def filename(self) -> str:
        stamp = self.generated_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        return f"compliance_{self.organization}_{stamp}.{self.format}"


def audit_report(queryset: QuerySet) -> dict[str, Any]:
    """Counts over the (filtered) events: four GROUP BY queries, no rows in memory."""
    plain = queryset.order_by()

    def counts(column: str, qs: QuerySet | None = None) -> dict[str, int]:
        rows = (qs if qs is not None else plain).values_list(column).annotate(n=Count("pk"))
        return {key if key is not None else "unknown": n for key, n in rows.order_by(column)}

    vetoes = plain.filter(event_type="routing.veto").annotate(
        policy=KeyTextTransform("policy_violated", "payload")
    )
    return {
        "total_events": plain.count(),
        "by_event_type": counts("event_type"),
        "by_provider": counts("provider", plain.exclude(provider="")),
        "by_actor": counts("actor"),
        "vetoes_by_policy": counts("policy", vetoes),
    }


def export_prepare(
    *,
    fmt: str,
    queryset: QuerySet,
    actor: Actor | str,
    filters: Mapping[str, Any] | None = None,
    via: str = "api",
) -> Export:
    """Fix the export's bounds, count it, and record ``compliance.exported`` (who, filters,
    count). Raises ExportError for an unknown format, before anything is written."""
    if fmt not in FORMATS:
        raise ExportError(f"Unknown format '{fmt}': use one of {', '.join(FORMATS)}.")
    filters = {
        name: str(value) for name, value in (filters or {}).items() if value not in ("", None)
    }
    upto_seq = AuditChainHead.objects.values_list("seq", flat=True).first() or 0
    bounded = queryset.filter(seq__lte=upto_seq).order_by("seq")
    report = audit_report(bounded) if fmt == "json" else None
    count = report["total_events"] if report else bounded.count()
    export = Export(
        format=fmt,
        organization=current_organization_slug(),
        queryset=bounded,
        count=count,
        upto_seq=upto_seq,
        generated_at=timezone.now(),
        report=report,
        filters=filters,
    )
    audit_record(
        event_type="compliance.exported",
        actor=actor,
        resource_type="audit_trail",
        payload={
            "format": fmt,
            "filters": filters,
            "count": count,
            "upto_seq": upto_seq,
            "via": via,
            "filename": export.filename,
        },
    )
    return export


def rows_in_chunks(rows: QuerySet, chunk_size: int) -> Iterator[list[tuple]]:
    """Rows in chunks from a server-side cursor (a named cursor needs a transaction)."""
    with transaction.atomic():
        chunk: list[tuple] = []
        for row in rows.iterator(chunk_size=chunk_size):
            chunk.append(row)
            if len(chunk) >= chunk_size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


def _rows(export: Export, chunk_size: int) -> Iterator[list[tuple]]:
    return rows_in_chunks(export.queryset.values_list(*EVENT_FIELDS), chunk_size)


# CSV columns that never hold free text (ids, hashes, numbers, the timestamp, the payload,
# which always starts with "{"): no formula guard needed, which keeps the loop short.
_CSV_GUARDED = ("event_type", "organization", "actor", "agent_name", "provider", "task_type",
                "project_id", "resource_type", "resource_id", "request_id")  # fmt: skip


def _csv_rows(export: Export, chunk_size: int) -> Iterator[list[tuple]]:
    """CSV rows straight from PostgreSQL: the timestamp formatted and the payload as text, so
    no datetime or JSON field is built per row (the export's hot loop, millions of rows)."""
    text_columns = {
        "timestamp": Func(
            F("timestamp"), template=f"to_char(%(expressions)s AT TIME ZONE 'UTC', '{PG_TS}')"
        ),
        "payload": Cast("payload", TextField()),
    }
    annotations = {f"csv_{name}": expression for name, expression in text_columns.items()}
    columns = [f"csv_{name}" if name in text_columns else name for name in CSV_COLUMNS]
    rows = export.queryset.annotate(**annotations).values_list(*columns)
    return rows_in_chunks(rows, chunk_size)


def _csv_chunks(export: Export, chunk_size: int) -> Iterator[tuple[bytes, int]]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue().encode(), 0
    payload_at = CSV_COLUMNS.index("payload")
    guarded = [CSV_COLUMNS.index(name) for name in _CSV_GUARDED]
    loads = json.loads
    for chunk in _csv_rows(export, chunk_size):
        buffer.seek(0)
        buffer.truncate()
        out = []
        for row in chunk:
            cells = list(row)
            # jsonb's text spelling is not the canonical one the hash covers: re-serialize.
            cells[payload_at] = canonical_json(loads(cells[payload_at]))
            # OWASP: a leading quote keeps a spreadsheet from running the cell as a formula.
            for position in guarded:
                cell = cells[position]
                if cell and cell[0] in _TRIGGER_SET:
                    cells[position] = "'" + cell
            out.append(cells)
        writer.writerows(out)
        yield buffer.getvalue().encode(), len(chunk)


def _dumps(event: dict[str, Any]) -> str:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))


def _jsonl_chunks(export: Export, chunk_size: int) -> Iterator[tuple[bytes, int]]:
    for chunk in _rows(export, chunk_size):
        text = "".join(_dumps(row_as_dict(row)) + "\n" for row in chunk)
        yield text.encode(), len(chunk)


def _json_chunks(export: Export, chunk_size: int) -> Iterator[tuple[bytes, int]]:
    head = {
        "organization": export.organization,
        "generated_at": format_timestamp(export.generated_at),
        "report": export.report,
    }
    yield (_dumps(head)[:-1] + ',"events":[').encode(), 0
    first = True
    for chunk in _rows(export, chunk_size):
        text = ",".join(_dumps(row_as_dict(row)) for row in chunk)
        yield (text if first else "," + text).encode(), len(chunk)
        first = False
    yield b"]}\n", 0


_WRITERS = {"csv": _csv_chunks, "json": _json_chunks, "jsonl": _jsonl_chunks}


def export_chunks(
    export: Export,
    *,
    chunk_size: int = CHUNK_SIZE,
    progress: Callable[[int], object] | None = None,
) -> Iterator[bytes]:
    """The export's bytes, one chunk per ``chunk_size`` events; ``progress(n)`` per chunk."""
    for data, rows in _WRITERS[export.format](export, chunk_size):
        if progress is not None and rows:
            progress(rows)
        yield data
