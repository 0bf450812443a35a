"""Issue #18 against the production stack (gunicorn + uvicorn worker): a chunked body is
refused with 411 and changes nothing; two gunicorn instances get control sockets of their own."""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest
from django.db import connection

from projects.models import Project
from tests.events.live import committed_org
from tests.processes import database_url, http, running_server, subprocess_env

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]


@pytest.fixture(scope="module")
def live(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), committed_org("hardening-e2e") as org:
        yield org


def raw_request(base: str, request: bytes) -> bytes:
    parts = urlsplit(base)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while b"\r\n\r\n" not in received or not received.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    return received


def test_chunked_patch_through_gunicorn_is_411(live, django_db_blocker, tmp_path):
    env = subprocess_env(DATABASE_URL=database_url(connection.settings_dict))
    body = json.dumps({"name": "renamed"}).encode()
    chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    with running_server(env, kind="gunicorn", log=tmp_path / "server.log") as base:
        response = raw_request(
            base,
            (
                f"PATCH /api/v1/projects/{live.project_id} HTTP/1.1\r\n"
                f"Host: {live.domain}\r\nAuthorization: Bearer {live.key}\r\n"
                "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
                "Connection: close\r\n\r\n"
            ).encode()
            + chunked,
        )
        assert response.startswith(b"HTTP/1.1 411"), response[:300]
        status, _, content = http(
            "GET",
            f"{base}/api/v1/projects/{live.project_id}",
            headers={"Host": live.domain, "Authorization": f"Bearer {live.key}"},
        )
        assert status == 200
        assert json.loads(content)["name"] == "live"
    with django_db_blocker.unblock():
        connection.set_tenant(live.organization)
        assert Project.objects.get(id=live.project_id).name == "live"
        connection.set_schema_to_public()


CONTROL_DIR = Path(tempfile.gettempdir()) / f"metaqore-gunicorn-{os.getuid()}"


def gunicorn_master(base: str) -> int:
    """The pid of the gunicorn master serving ``base`` (its workers hold the listening
    sockets: reuse_port)."""
    port = urlsplit(base).port
    for conn in psutil.net_connections("tcp"):
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
            process = psutil.Process(conn.pid)
            parent = process.parent()
            return parent.pid if parent and "gunicorn" in " ".join(parent.cmdline()) else conn.pid
    raise AssertionError(f"nothing listens on {port}")


def test_two_gunicorn_instances_have_their_own_control_sockets(live, tmp_path):
    env = subprocess_env(DATABASE_URL=database_url(connection.settings_dict))
    with (
        running_server(env, kind="gunicorn", log=tmp_path / "one.log") as one,
        running_server(env, kind="gunicorn", log=tmp_path / "two.log") as two,
    ):
        masters = {gunicorn_master(one), gunicorn_master(two)}
        assert len(masters) == 2
        sockets = [CONTROL_DIR / f"{pid}.ctl" for pid in masters]
        deadline = time.monotonic() + 10
        while not all(path.exists() for path in sockets) and time.monotonic() < deadline:
            time.sleep(0.1)
        for path in sockets:  # one each, not one taken over by the other
            with socket.socket(socket.AF_UNIX) as sock:
                sock.connect(str(path))  # each master listens on its own
