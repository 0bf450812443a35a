"""What needs committed data: concurrent writers, real command processes, and auth.failed
surviving its 401. Runs in an org of its own, dropped afterwards (its audit table refuses
DELETE and TRUNCATE; only dropping the whole schema removes it)."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import threading
import time

import pytest
from django.db import connection, connections

from access.actors import Actor
from compliance.audit import audit_record
from compliance.models import AuditEvent
from compliance.selectors import audit_chain_verify
from projects.services import project_create
from tests import processes
from tests.conftest import client_for
from tests.events.live import committed_organization

SLUG = "ledger"
ROOT = processes.ROOT
THREADS = 8
PER_THREAD = 25


@pytest.fixture(scope="module")
def ledger(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), committed_organization(SLUG) as organization:
        yield organization


@pytest.fixture
def committed(ledger, django_db_blocker):
    with django_db_blocker.unblock():
        connection.set_tenant(ledger)
        yield ledger
        connection.set_schema_to_public()


def subprocess_env() -> dict[str, str]:
    """The environment of a command that must use this test database."""
    return processes.subprocess_env(
        DATABASE_URL=processes.database_url(connection.settings_dict), PYTHONUNBUFFERED="1"
    )


def manage(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )


def test_concurrent_writers_make_one_gap_free_chain(committed):
    start = AuditEvent.objects.count()
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def write(index: int) -> None:
        try:
            connection.set_tenant(committed)
            barrier.wait(timeout=30)
            for step in range(PER_THREAD):
                if step % 5 == 0:  # a real service path among the raw appends
                    project_create(actor=Actor("agent", f"w{index}"), name=f"p{index}-{step}")
                else:
                    audit_record(
                        event_type="load.test",
                        actor=Actor("agent", f"w{index}"),
                        payload={"thread": index, "step": step},
                    )
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors

    connection.set_tenant(committed)
    total = start + THREADS * PER_THREAD
    assert list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True)) == list(
        range(1, total + 1)
    )
    result = audit_chain_verify()
    assert result.ok, result
    assert result.events_checked == total


def test_auth_failed_is_committed_although_the_request_fails(committed):
    before = AuditEvent.objects.filter(event_type="auth.failed").count()
    response = client_for(committed, key="mq_" + "n" * 43).get("/api/v1/projects")
    assert response.status_code == 401
    seen = []

    def look() -> None:  # another connection sees only committed rows
        connection.set_tenant(committed)
        seen.append(AuditEvent.objects.filter(event_type="auth.failed").count())
        connections.close_all()

    thread = threading.Thread(target=look)
    thread.start()
    thread.join()
    assert seen == [before + 1]


def test_commands_in_real_processes(committed, tmp_path):
    count = AuditEvent.objects.count()

    piped = manage("audit_export", "--org", SLUG, "--format", "csv")
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.startswith("timestamp,event_type,organization,")
    assert len(piped.stdout.splitlines()) == count + 1
    assert "%|" not in piped.stderr  # piped: no progress bar
    assert f"Exported {count} events of '{SLUG}' to stdout." in piped.stderr

    verified = manage("audit_verify", "--org", SLUG)
    assert verified.returncode == 0, verified.stderr
    assert "Audit chain intact" in verified.stdout

    export = tmp_path / "export.jsonl"
    assert (
        manage(
            "audit_export", "--org", SLUG, "--format", "jsonl", "--output", str(export)
        ).returncode
        == 0
    )
    lines = export.read_text().splitlines(True)
    lines[4] = lines[4].replace('"actor":"', '"actor":"x', 1)
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text("".join(lines))
    broken = manage("audit_verify", "--org", SLUG, "--from-file", str(tampered))
    assert broken.returncode == 1
    assert "Audit chain broken at seq 5" in broken.stderr


def test_export_shows_a_progress_bar_on_a_terminal(committed, tmp_path):
    controller, terminal = pty.openpty()
    # a real terminal has a size; tqdm draws nothing on a 0-column one
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        done = subprocess.run(
            [
                sys.executable,
                "manage.py",
                "audit_export",
                "--org",
                SLUG,
                "--format",
                "jsonl",
                "--output",
                str(tmp_path / "bar.jsonl"),
            ],
            cwd=ROOT,
            env=subprocess_env(),
            stdout=terminal,
            stderr=terminal,
            timeout=120,
        )
        assert done.returncode == 0
        output = b""
        while select.select([controller], [], [], 0.5)[0]:
            chunk = os.read(controller, 65536)
            if not chunk:
                break
            output += chunk
    finally:
        os.close(controller)
        os.close(terminal)
    assert b"100%|" in output


def test_tail_follow_prints_events_as_they_commit(committed):
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "audit_tail",
            "--org",
            SLUG,
            "-n",
            "1",
            "--follow",
            "--interval",
            "0.2",
            "--event-type",
            "tail.*",
        ],
        cwd=ROOT,
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(2.0)  # let it start and print the (empty) backlog
        event = audit_record(event_type="tail.test", actor=Actor("user", "ops"))
        deadline = time.monotonic() + 30
        line = ""
        while time.monotonic() < deadline:
            ready = select.select([process.stdout], [], [], 0.5)[0]
            if ready:
                line = process.stdout.readline()
                break
        assert line.startswith(f"#{event.seq} "), (line, process.poll())
        assert "tail.test user:ops" in line
    finally:
        process.terminate()
        process.wait(timeout=10)
