"""The audit API: filters, cursor pages, permissions, exports and verification."""

from __future__ import annotations

import csv
import io
import json
import re
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from access.actors import SYSTEM, Actor
from access.roles import AUDITOR, COMPLIANCE_OFFICER, ORG_ADMIN, VIEWER
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
    disable_audit_triggers,
    events_after,
    last_seq,
    raw_sql,
    user_client,
)
from tests.conftest import client_for, use_org

AUDIT = "/api/v1/governance/compliance/audit"
EXPORT = "/api/v1/governance/compliance/export"
VERIFY = "/api/v1/governance/compliance/verify"


def seqs(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [event["seq"] for event in response.json()["results"]]


@pytest.fixture
def sample(org_a):
    """Events with distinct attributes; returns {name: seq} and a time between b and c."""
    coder = Actor("agent", "coder")
    made = {}
    made["a"] = audit_record(
        event_type="artifact.declared",
        actor=coder,
        provider="openai",
        task_type="code",
        project_id="proj_1",
        resource_type="artifact",
        resource_id="art_1",
    ).seq
    made["b"] = audit_record(
        event_type="artifact.transitioned",
        actor=Actor("agent", "tester"),
        provider="anthropic",
        task_type="test",
        project_id="proj_2",
        resource_type="artifact",
        resource_id="art_2",
    ).seq
    between = timezone.now()
    made["c"] = audit_record(
        event_type="artifacts.other", actor=Actor("user", "ann"), project_id="proj_1"
    ).seq
    made["d"] = audit_record(
        event_type="routing.veto",
        actor=coder,
        provider="openai",
        payload={"policy_violated": "no-external"},
    ).seq
    made["e"] = audit_record(
        event_type="routing.veto", actor=coder, provider="local", payload={"policy_violated": "pii"}
    ).seq
    made["f"] = audit_record(event_type="routing.veto", actor=SYSTEM, payload={}).seq
    return made, between


# permissions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [AUDIT, EXPORT + "?format=jsonl", VERIFY])
def test_plain_agent_and_viewer_are_forbidden(org_a, agent_client, path):
    assert agent_client.get(path).status_code == 403
    assert user_client(org_a, "vic", VIEWER).get(path).status_code == 403
    assert client_for(org_a).get(path).status_code == 401


@pytest.mark.parametrize("role", [AUDITOR, COMPLIANCE_OFFICER, ORG_ADMIN])
def test_audit_roles_may_read_export_and_verify(org_a, role):
    client = user_client(org_a, "reader", role)
    for path in (AUDIT, AUDIT + "/", EXPORT + "?format=jsonl", EXPORT + "/?format=csv", VERIFY):
        response = client.get(path)
        assert response.status_code == 200, (path, response.content)


def test_privileged_clients_may_read(org_a, privileged_client, settings):
    assert privileged_client.get(AUDIT).status_code == 200
    assert privileged_client.get(VERIFY).status_code == 200
    # the operator's shared-secret header elevates agent keys only, never a viewer's JWT
    settings.METAQORE_PRIVILEGED_TOKEN = "s3cret-token"
    viewer = user_client(org_a, "vic", VIEWER)
    refused = viewer.get(AUDIT, HTTP_X_METAQORE_PRIVILEGED="s3cret-token")
    assert refused.status_code == 403
    assert refused["X-MetaQore-Privileged"] == "ignored"
    assert viewer.get(AUDIT, HTTP_X_METAQORE_PRIVILEGED="wrong").status_code == 403


def test_other_orgs_events_are_invisible(org_a, org_b, auditor_client):
    use_org(org_b)
    secret = audit_record(event_type="x.secret", actor=SYSTEM)
    use_org(org_a)
    body = auditor_client.get(AUDIT + "?event_type=x.secret").json()
    assert body["results"] == []
    assert auditor_client.get(f"{AUDIT}/{secret.id}").status_code == 404


# list and filters ----------------------------------------------------------------------------


def test_list_is_newest_first_with_chain_fields(auditor_client, sample):
    body = auditor_client.get(AUDIT).json()
    assert set(body) == {"next", "previous", "results"}
    first = body["results"][0]
    assert first["seq"] == last_seq()
    assert set(first) >= {"id", "seq", "timestamp", "hash", "prev_hash", "payload", "actor"}
    assert body["results"][1]["hash"] == first["prev_hash"]
    single = auditor_client.get(f"{AUDIT}/{first['id']}").json()
    assert single == first
    for unknown in ("evt_0", "xyz", "evt_%00"):
        response = auditor_client.get(f"{AUDIT}/{unknown}/")
        assert response.status_code == 404
        assert response.json() == {"detail": "Not found."}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"event_type": "artifact.declared"}, ["a"]),
        ({"event_type": "artifact.*"}, ["b", "a"]),
        ({"event_type": "routing.veto"}, ["f", "e", "d"]),
        ({"actor": "agent:coder"}, ["e", "d", "a"]),
        ({"actor": "user:ann"}, ["c"]),
        ({"agent_name": "tester"}, ["b"]),
        ({"provider": "openai"}, ["d", "a"]),
        ({"task_type": "test"}, ["b"]),
        ({"project_id": "proj_1"}, ["c", "a"]),
        ({"resource_id": "art_2"}, ["b"]),
        ({"resource_type": "artifact"}, ["b", "a"]),
        ({"provider": "openai", "event_type": "routing.*"}, ["d"]),
        ({"event_type": "nothing.*"}, []),
    ],
)
def test_each_filter(auditor_client, sample, params, expected):
    made, _between = sample
    response = auditor_client.get(f"{AUDIT}?{urlencode(params)}")
    assert seqs(response) == [made[name] for name in expected]


def test_since_and_until(auditor_client, sample):
    made, between = sample
    after = seqs(auditor_client.get(AUDIT, {"since": between.isoformat(), "page_size": 200}))
    assert after == [made[name] for name in "fedc"]
    # `Z` suffix, and a `+` that arrived as a space because the client did not encode it
    before_z = between.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    before = seqs(auditor_client.get(AUDIT, {"until": before_z, "page_size": 200}))
    assert before[:2] == [made["b"], made["a"]] and made["c"] not in before
    spaced = between.isoformat().replace("+", " ")
    assert seqs(auditor_client.get(f"{AUDIT}?until={spaced}&page_size=200")) == before
    window = {"since": between.isoformat(), "until": timezone.now().isoformat()}
    assert seqs(auditor_client.get(AUDIT, window)) == after
    assert seqs(auditor_client.get(AUDIT, {"since": "2999-01-01"})) == []


@pytest.mark.parametrize(
    "query",
    ["since=yesterday", "until=2024-13-01", "event_type=" + "x" * 101, "actor=a%00b"],
)
def test_bad_filters_are_400(auditor_client, query):
    for path in (f"{AUDIT}?{query}", f"{EXPORT}?format=csv&{query}"):
        response = auditor_client.get(path)
        assert response.status_code == 400, response.content
        assert isinstance(response.json(), dict)


def test_cursor_pages_walk_every_event_once(auditor_client, org_a):
    for index in range(7):
        audit_record(event_type="page.test", actor=SYSTEM, payload={"i": index})
    seen, url = [], f"{AUDIT}?event_type=page.test&page_size=3"
    while url:
        body = auditor_client.get(url).json()
        seen += [event["payload"]["i"] for event in body["results"]]
        url = body["next"]
    assert seen == [6, 5, 4, 3, 2, 1, 0]


def test_list_is_one_query_whatever_the_page_size(auditor_client, sample):
    def audit_queries(url):
        with CaptureQueriesContext(connection) as captured:
            assert auditor_client.get(url).status_code == 200
        sqls = [query["sql"] for query in captured.captured_queries]
        return len(sqls), [sql for sql in sqls if "compliance_" in sql]

    small_total, small = audit_queries(AUDIT + "?page_size=2")
    large_total, large = audit_queries(AUDIT + "?page_size=200")
    assert len(small) == len(large) == 1  # no count(*), no per-row queries
    assert small_total == large_total


# exports -------------------------------------------------------------------------------------


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


# verify --------------------------------------------------------------------------------------


def test_verify_intact(auditor_client, sample):
    body = auditor_client.get(VERIFY).json()
    assert body == {
        "ok": True,
        "kind": "incremental",
        "from_seq": 1,  # no run passed before: from the genesis
        "through_seq": last_seq(),
        "events_checked": last_seq(),
        "checkpoints_checked": 0,
        "first_bad_seq": None,
        "head_hash": AuditEvent.objects.get(seq=last_seq()).hash,
        "reason": None,
        "verification_id": body["verification_id"],
        "unaudited_changes": [],
    }


def test_verify_tampered_payload(auditor_client, sample):
    made, _ = sample
    disable_audit_triggers()
    raw_sql(
        'UPDATE compliance_auditevent SET payload = \'{"policy_violated": "none"}\' WHERE seq = %s',
        [made["d"]],
    )
    body = auditor_client.get(VERIFY).json()
    assert body["ok"] is False and body["first_bad_seq"] == made["d"]
    assert body["events_checked"] == made["d"]
    assert "hash" in body["reason"]


def test_verify_deleted_row(auditor_client, sample):
    made, _ = sample
    disable_audit_triggers()
    raw_sql("DELETE FROM compliance_auditevent WHERE seq = %s", [made["b"]])
    body = auditor_client.get(VERIFY).json()
    assert body["ok"] is False and body["first_bad_seq"] == made["b"]
    assert "missing" in body["reason"]


def test_verify_deleted_tail(auditor_client, sample):
    made, _ = sample
    disable_audit_triggers()
    raw_sql("DELETE FROM compliance_auditevent WHERE seq >= %s", [made["e"]])
    body = auditor_client.get(VERIFY).json()
    assert body["ok"] is False and body["first_bad_seq"] == made["e"]


def test_verify_reordered_rows(auditor_client, sample):
    made, _ = sample
    disable_audit_triggers()
    # swap the seq of two events (through a free value: seq is unique)
    b, c = made["b"], made["c"]
    raw_sql("UPDATE compliance_auditevent SET seq = -1 WHERE seq = %s", [b])
    raw_sql("UPDATE compliance_auditevent SET seq = %s WHERE seq = %s", [b, c])
    raw_sql("UPDATE compliance_auditevent SET seq = %s WHERE seq = -1", [c])
    body = auditor_client.get(VERIFY).json()
    assert body["ok"] is False and body["first_bad_seq"] == b


def test_verify_row_appended_behind_the_services_back(auditor_client, sample):
    made, _ = sample
    raw_sql(
        "INSERT INTO compliance_auditevent (id, seq, timestamp, event_type, organization, actor,"
        " agent_name, provider, task_type, project_id, resource_type, resource_id, request_id,"
        " payload, prev_hash, hash) SELECT 'evt_forged', seq + 1, timestamp, event_type,"
        " organization, actor, agent_name, provider, task_type, project_id, resource_type,"
        " resource_id, request_id, payload, hash, hash FROM compliance_auditevent WHERE seq = %s",
        [made["f"]],
    )
    body = auditor_client.get(VERIFY).json()
    assert body["ok"] is False and body["first_bad_seq"] == made["f"] + 1
