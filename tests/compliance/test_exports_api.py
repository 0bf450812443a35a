"""The audit trail's exports (CSV, JSON, JSONL): what each records, their headers, CSV formula
injection, the columns the chain hashes, filters, and streaming over a server-side cursor."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from django.db import connection

from access.actors import SYSTEM, Actor
from compliance.audit import audit_record
from compliance.chain import (
    HASHED_FIELDS,
    canonical_json,
    event_hash,
    format_timestamp,
    jsonl_chain_verify,
    personal_digest,
)
from compliance.models import AuditEvent
from tests.compliance.conftest import (
    events_after,
    last_seq,
)

AUDIT = "/api/v1/governance/compliance/audit"
EXPORT = "/api/v1/governance/compliance/export"


def read(response) -> bytes:
    assert response.status_code == 200, response.content
    assert response.streaming
    return b"".join(response.streaming_content)


def test_every_export_records_compliance_exported(auditor_client, sample):
    start = last_seq()
    response = auditor_client.get(EXPORT, {"format": "jsonl", "event_type": "routing.*"})
    lines = read(response).decode().splitlines()
    assert len(lines) == 3 and response["X-MetaQore-Export-Count"] == "3"
    [exported] = events_after(start)
    assert exported.event_type == "compliance.exported"
    assert exported.actor == "user:audrey"
    assert exported.payload["count"] == 3
    assert exported.payload["filters"] == {"event_type": "routing.*"}
    assert exported.payload["format"] == "jsonl"
    assert exported.payload["upto_seq"] == start


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [("csv", "text/csv"), ("json", "application/json"), ("jsonl", "application/x-ndjson")],
)
def test_export_headers(auditor_client, sample, fmt, content_type):
    response = auditor_client.get(EXPORT, {"format": fmt})
    read(response)
    assert response["Content-Type"].startswith(content_type)
    assert re.fullmatch(
        rf'attachment; filename="compliance_alpha_\d{{8}}T\d{{6}}Z\.{fmt}"',
        response["Content-Disposition"],
    )


def test_unknown_format_is_400_and_not_exported(auditor_client, sample):
    start = last_seq()
    for fmt in ("xml", "", "api"):
        response = auditor_client.get(EXPORT, {"format": fmt})
        assert response.status_code == 400
        assert "format" in response.json()
    assert events_after(start) == []


def test_csv_export_columns_and_formula_injection(auditor_client, org_a):
    start = last_seq()
    audit_record(
        event_type="x.injection",
        actor=Actor("agent", '=HYPERLINK("http://evil")'),
        agent_name="=cmd|' /C calc'!A0",
        provider="+1+1",
        task_type="-2+3",
        project_id="@SUM(A1)",
        resource_type="\tindent",
        resource_id="\rreturn",
        payload={"note": "=1+1"},
    )
    text = read(auditor_client.get(EXPORT, {"format": "csv"})).decode()
    rows = list(csv.reader(io.StringIO(text)))
    header = rows[0]
    assert ",".join(header).startswith(
        "timestamp,event_type,organization,actor,agent_name,provider,task_type,project_id,"
        "resource_type,resource_id,seq,hash,payload"
    )
    assert len(rows) - 1 == start + 1  # every event before the export's own
    row = dict(zip(header, rows[-1], strict=True))
    assert row["agent_name"] == "'=cmd|' /C calc'!A0"
    assert row["provider"] == "'+1+1"
    assert row["task_type"] == "'-2+3"
    assert row["project_id"] == "'@SUM(A1)"
    assert row["resource_type"] == "'\tindent"
    assert row["resource_id"] == "'\rreturn"
    assert row["actor"] == 'agent:=HYPERLINK("http://evil")'  # does not start with a trigger
    assert json.loads(row["payload"]) == {"note": "=1+1"}
    assert row["seq"] == str(start + 1) and len(row["hash"]) == 64
    assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for r in rows for cell in r)


def test_csv_rows_carry_what_the_chain_hashes(auditor_client, org_a):
    """The CSV is rendered from text PostgreSQL formats (timestamp, payload::text): each row
    still holds the canonical payload and timestamp, so its hash can be recomputed."""
    audit_record(
        event_type="x.canonical",
        actor=SYSTEM,
        payload={
            "zeta": [1, 2.5, {"b": None, "a": True}],
            "alpha": 'ünïcødé "quoted", comma\nnewline',
            "big": 2**62,
            "tiny": 1e-7,
            "nested": {"longer_key": 1, "k": 2},
        },
    )
    text = read(auditor_client.get(EXPORT, {"format": "csv"})).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    stored = {event.seq: event for event in AuditEvent.objects.all()}
    assert len(rows) == len(stored) - 1  # all but the export's own event
    for row in rows:
        event = stored[int(row["seq"])]
        assert row["payload"] == canonical_json(event.payload)
        assert row["timestamp"] == format_timestamp(event.timestamp)
    row = rows[-1]  # the event above: no cell a spreadsheet guard had to prefix
    assert row["event_type"] == "x.canonical"
    data = {name: row[name] for name in HASHED_FIELDS if name not in ("seq", "payload")}
    data.update(seq=int(row["seq"]), payload=json.loads(row["payload"]))
    data.update(chain_version=int(row["chain_version"]), personal_digest=row["personal_digest"])
    data["salt"] = row["salt"]
    assert personal_digest(data) == row["personal_digest"]
    assert event_hash(row["prev_hash"], data) == row["hash"] == stored[int(row["seq"])].hash


def test_json_export_report_honours_filters(auditor_client, sample):
    made, _ = sample
    body = json.loads(read(auditor_client.get(EXPORT, {"format": "json"})))
    assert set(body) == {"organization", "generated_at", "report", "events"}
    assert body["organization"] == "alpha"
    report = body["report"]
    assert report["total_events"] == len(body["events"]) == made["f"]
    assert report["by_event_type"]["routing.veto"] == 3
    assert report["by_event_type"]["organization.created"] == 1
    assert report["by_provider"] == {"anthropic": 1, "local": 1, "openai": 2}
    assert report["by_actor"]["agent:coder"] == 3
    assert report["vetoes_by_policy"] == {"no-external": 1, "pii": 1, "unknown": 1}
    assert [event["seq"] for event in body["events"]] == list(range(1, made["f"] + 1))

    filtered = json.loads(
        read(auditor_client.get(EXPORT, {"format": "json", "provider": "openai"}))
    )
    assert filtered["report"] == {
        "total_events": 2,
        "by_event_type": {"artifact.declared": 1, "routing.veto": 1},
        "by_provider": {"openai": 2},
        "by_actor": {"agent:coder": 2},
        "vetoes_by_policy": {"no-external": 1},
    }
    assert [event["seq"] for event in filtered["events"]] == [made["a"], made["d"]]


def test_jsonl_export_is_a_verifiable_chain(auditor_client, sample):
    lines = read(auditor_client.get(EXPORT, {"format": "jsonl"})).decode().splitlines(True)
    result = jsonl_chain_verify(lines)
    assert result.ok and result.events_checked == len(lines)
    stored = AuditEvent.objects.get(seq=3)
    assert json.loads(lines[2])["hash"] == stored.hash

    tampered = list(lines)
    event = json.loads(tampered[2])
    event["payload"] = {"forged": True}
    tampered[2] = json.dumps(event) + "\n"
    assert jsonl_chain_verify(tampered).first_bad_seq == 3
    assert jsonl_chain_verify(lines[:2] + lines[3:]).first_bad_seq == 3  # deleted line
    reordered = [*lines[:2], lines[3], lines[2], *lines[4:]]
    assert jsonl_chain_verify(reordered).first_bad_seq == 3
    assert jsonl_chain_verify(lines[2:]).ok  # a later start is checked from there on


def test_exports_stream_over_a_server_side_cursor(auditor_client, sample):
    cursors = []

    def spy(execute, sql, params, many, context):
        cursors.append(type(context["cursor"].cursor).__name__)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy):
        read(auditor_client.get(EXPORT, {"format": "csv"}))
    assert "ServerSideCursor" in cursors
