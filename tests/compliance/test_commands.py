"""audit_export, audit_tail, audit_verify (in-process; see test_committed.py for real processes)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command

from access.actors import SYSTEM, Actor
from compliance import audit
from compliance.audit import audit_record
from compliance.management.commands import audit_tail
from tests.compliance.conftest import disable_audit_triggers, events_after, last_seq, raw_sql


@pytest.fixture
def trail(org_a):
    for index in range(5):
        audit_record(
            event_type="artifact.declared" if index % 2 else "task.updated",
            actor=Actor("agent", "coder"),
            payload={"i": index},
        )
    return last_seq()


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


# audit_export --------------------------------------------------------------------------------


def test_export_jsonl_to_a_file(trail, tmp_path):
    path = tmp_path / "trail.jsonl"
    _out, err = run("audit_export", "--org", "alpha", "--format", "jsonl", "--output", str(path))
    lines = path.read_text().splitlines()
    assert [json.loads(line)["seq"] for line in lines] == list(range(1, trail + 1))
    assert f"Exported {trail} events of 'alpha' to {path}" in err
    assert "%|" not in err  # no progress bar when stderr is not a terminal
    assert not (tmp_path / "trail.jsonl.partial").exists()
    [exported] = events_after(trail)
    assert exported.event_type == "compliance.exported" and exported.actor == "system"
    assert exported.payload["via"] == "cli" and exported.payload["count"] == trail


def test_export_csv_to_stdout_with_filters(trail):
    out, _err = run(
        "audit_export", "--org", "alpha", "--format", "csv", "--event-type", "artifact.*"
    )
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [row["event_type"] for row in rows] == ["artifact.declared", "artifact.declared"]
    assert events_after(trail)[0].payload["filters"] == {"event_type": "artifact.*"}


def test_export_json_report(trail):
    out, _err = run("audit_export", "--org", "alpha", "--format", "json", "--actor", "agent:coder")
    body = json.loads(out)
    assert body["report"]["total_events"] == 5
    assert body["report"]["by_event_type"] == {"artifact.declared": 2, "task.updated": 3}


def test_export_errors(trail):
    with pytest.raises(CommandError, match="since"):
        run("audit_export", "--org", "alpha", "--format", "csv", "--since", "someday")
    with pytest.raises(CommandError, match="Unknown organization"):
        run("audit_export", "--org", "nope", "--format", "csv")
    with pytest.raises(CommandError):
        run("audit_export", "--org", "alpha", "--format", "xml")
    assert events_after(trail) == []


# audit_tail ----------------------------------------------------------------------------------


def test_tail_prints_the_latest_events_oldest_first(trail):
    out, _err = run("audit_tail", "--org", "alpha", "-n", "3")
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == [f"#{trail - 2}", f"#{trail - 1}", f"#{trail}"]
    assert lines[-1].split()[2:5] == ["task.updated", "agent:coder", "-"]
    assert lines[-1].endswith('{"i":4}')


def test_tail_with_an_event_type_prefix(trail):
    out, _err = run("audit_tail", "--org", "alpha", "--event-type", "artifact.*")
    assert [line.split()[2] for line in out.splitlines()] == ["artifact.declared"] * 2


def test_tail_follow_prints_new_events(trail, monkeypatch):
    polls = []

    def fake_sleep(seconds):
        polls.append(seconds)
        if len(polls) == 1:
            audit_record(event_type="artifact.transitioned", actor=SYSTEM)
            audit_record(event_type="task.updated", actor=SYSTEM)  # filtered out
        elif len(polls) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(audit_tail.time, "sleep", fake_sleep)
    out, _err = run(
        "audit_tail",
        "--org",
        "alpha",
        "-n",
        "1",
        "--follow",
        "--interval",
        "0.5",
        "--event-type",
        "artifact.*",
    )
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == [f"#{trail - 1}", f"#{trail + 1}"]
    assert "artifact.transitioned" in lines[1]
    assert polls == [0.5, 0.5, 0.5]


# audit_verify --------------------------------------------------------------------------------


def test_verify_the_database(trail):
    out, _err = run("audit_verify", "--org", "alpha")
    assert f"Audit chain intact: {trail} events verified" in out

    disable_audit_triggers()
    raw_sql("UPDATE compliance_auditevent SET payload = '{\"i\": 99}' WHERE seq = 4")
    with pytest.raises(CommandError, match="broken at seq 4"):
        run("audit_verify", "--org", "alpha")


def test_verify_from_a_file_and_from_tampered_copies(trail, tmp_path):
    export = tmp_path / "export.jsonl"
    run("audit_export", "--org", "alpha", "--format", "jsonl", "--output", str(export))
    out, _err = run("audit_verify", "--org", "alpha", "--from-file", str(export))
    assert f"{trail} events verified in {export}" in out
    lines = export.read_text().splitlines(True)

    def copy(name, new_lines):
        path = tmp_path / name
        path.write_text("".join(new_lines))
        return str(path)

    event = json.loads(lines[2])
    event["actor"] = "user:mallory"
    tampered = copy("tampered.jsonl", [*lines[:2], json.dumps(event) + "\n", *lines[3:]])
    with pytest.raises(CommandError, match=r"broken at seq 3: seq 3: (hash|personal fields)"):
        run("audit_verify", "--org", "alpha", "--from-file", tampered)

    deleted = copy("deleted.jsonl", [*lines[:3], *lines[4:]])
    with pytest.raises(CommandError, match="broken at seq 4: seq 4 is missing"):
        run("audit_verify", "--org", "alpha", "--from-file", deleted)

    swapped = copy("swapped.jsonl", [*lines[:1], lines[2], lines[1], *lines[3:]])
    with pytest.raises(CommandError, match="broken at seq 2"):
        run("audit_verify", "--org", "alpha", "--from-file", swapped)

    garbage = copy("garbage.jsonl", [*lines[:2], "not json\n", *lines[3:]])
    with pytest.raises(CommandError, match="broken at seq 3"):
        run("audit_verify", "--org", "alpha", "--from-file", garbage)

    # A consistent but forged file (every hash recomputed) does not match the database.
    from compliance.chain import event_hash, personal_digest

    forged, prev = [], None
    for line in lines:
        event = json.loads(line)
        if prev is not None:
            event["prev_hash"] = prev
        if event["seq"] == 3:
            event["payload"] = {"i": "forged"}
            event["personal_digest"] = personal_digest(event)
        event["hash"] = prev = event_hash(event["prev_hash"], event)
        forged.append(json.dumps(event) + "\n")
    with pytest.raises(CommandError, match="does not match the database"):
        run("audit_verify", "--org", "alpha", "--from-file", copy("forged.jsonl", forged))

    with pytest.raises(CommandError, match="Cannot read"):
        run("audit_verify", "--org", "alpha", "--from-file", str(tmp_path / "missing.jsonl"))


def test_commands_write_through_audit_record_only(trail):
    # audit_verify and audit_tail read; only audit_export writes (compliance.exported)
    run("audit_verify", "--org", "alpha")
    run("audit_tail", "--org", "alpha")
    assert events_after(trail) == []
    assert audit.AuditEvent.objects.count() == trail
