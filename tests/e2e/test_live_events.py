"""Live events between real server processes (gunicorn + uvicorn workers, as in production):
PostgreSQL LISTEN/NOTIFY carries them from the process that wrote to the one that streams,
and the audit trail's seq lets a client resume across a server restart."""

from __future__ import annotations

import json
import time

import pytest
from django.db import connection
from websockets.sync.client import connect as ws_connect

from tests.events.live import SSEReader, committed_org
from tests.processes import database_url, http, running_server, subprocess_env

# django_db: the test database exists (committed writes go through tests.events.live.committed)
pytestmark = [pytest.mark.e2e, pytest.mark.django_db]


@pytest.fixture(scope="module")
def live(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), committed_org("live-e2e") as org:
        yield org


@pytest.fixture(scope="module")
def server_env(live):
    return subprocess_env(
        DATABASE_URL=database_url(connection.settings_dict),
        METAQORE_SSE_HEARTBEAT_SECONDS="1",
        METAQORE_ENABLE_RATE_LIMIT="false",
    )


def stream_path(live, query: str = "event_types=artifact.*") -> str:
    return f"/api/v1/events/stream?{query}&project_id={live.project_id}"


def headers(live, **extra: str) -> dict[str, str]:
    return {"Host": live.domain, "Authorization": f"Bearer {live.key}", **extra}


def test_declared_in_one_process_streams_from_another_within_a_second(live, server_env):
    with (
        running_server(server_env, kind="gunicorn") as first,
        running_server(server_env, kind="gunicorn") as second,
        SSEReader(second, stream_path(live), headers(live)) as stream,
    ):
        assert stream.status == 200
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        assert "connected" in stream.message().comments[0]
        body = json.dumps({"project_id": live.project_id, "artifact_type": "sse", "data": {}})
        posted = time.monotonic()
        status, _, content = http(
            "POST",
            f"{first}/api/v1/artifacts",
            headers={**headers(live), "Content-Type": "application/json"},
            body=body.encode(),
        )
        assert status == 201, content
        [message] = stream.events(1, timeout=5)
        latency = time.monotonic() - posted
        artifact_id = json.loads(content)["id"]
        assert message.event == "artifact.declared"
        assert message.json["resource_id"] == artifact_id
        assert message.json["project_id"] == live.project_id
        assert message.id == str(message.json["seq"])
        assert latency < 1.0, f"{latency:.3f} s from POST (process A) to event (process B)"


def test_resume_with_last_event_id_loses_nothing_across_a_restart(live, server_env):
    with running_server(server_env, kind="gunicorn") as base:
        with SSEReader(base, stream_path(live), headers(live)) as stream:
            stream.message()
            live.declare("before-restart")
            [seen] = stream.events(1)
        last_id = seen.id
    # The server is gone; events keep being committed meanwhile.
    missed = [live.declare(f"while-down-{i}").artifact.id for i in range(3)]
    with (
        running_server(server_env, kind="gunicorn") as base,
        SSEReader(base, stream_path(live), headers(live, **{"Last-Event-ID": last_id})) as stream,
    ):
        resumed = stream.events(3)
        assert [m.json["resource_id"] for m in resumed] == missed
        seqs = [int(m.id) for m in resumed]
        assert seqs == sorted(seqs) and seqs[0] > int(last_id)
        # and it goes on live after the backlog
        live.declare("after-restart")
        [after] = stream.events(1)
        assert int(after.id) > seqs[-1]


def test_heartbeats_keep_an_idle_stream_alive(live, server_env):
    with (
        running_server(server_env, kind="gunicorn") as base,
        SSEReader(base, stream_path(live, "event_types=conflict.*"), headers(live)) as stream,
    ):
        stream.message()
        assert stream.message().comments == ["heartbeat"]  # METAQORE_SSE_HEARTBEAT_SECONDS=1


def test_stream_needs_a_credential_of_this_org(live, server_env):
    with running_server(server_env, kind="gunicorn") as base:
        status, _, _ = http("GET", f"{base}{stream_path(live)}", headers={"Host": live.domain})
        assert status == 401
        bad = {"Host": live.domain, "Authorization": "Bearer mq_not-a-key"}
        assert http("GET", f"{base}{stream_path(live)}", headers=bad)[0] == 401
        query = stream_path(live, "event_types=organization.*")
        assert http("GET", f"{base}{query}", headers=headers(live))[0] == 400


def test_websocket_on_a_real_server(live, server_env):
    with running_server(server_env, kind="gunicorn") as base:
        url = base.replace("http://", "ws://") + f"/api/v1/events/ws?token={live.key}"
        # 127.0.0.1 is a public host: the org comes from the header, as for HTTP.
        org = {"X-MetaQore-Org": live.organization.slug}
        with ws_connect(url, additional_headers=org, open_timeout=5) as ws:
            ws.send(json.dumps({"action": "subscribe", "event_types": ["artifact.*"]}))
            subscribed = json.loads(ws.recv(timeout=5))
            assert subscribed["type"] == "system.subscribed"
            declared = live.declare("over-websocket").artifact.id
            event = json.loads(ws.recv(timeout=5))
            assert (event["type"], event["resource_id"]) == ("artifact.declared", declared)
            ws.send(json.dumps({"action": "ping"}))
            assert json.loads(ws.recv(timeout=5)) == {"type": "system.pong"}


def metric(text: str, prefix: str) -> float:
    values = [
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix)
    ]
    return sum(values)


def test_metrics_under_gunicorn_aggregate_through_the_multiprocess_dir(live, server_env):
    """gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR: /metrics sums what the workers wrote."""
    with running_server(server_env, kind="gunicorn") as base:
        for _ in range(3):
            http("GET", f"{base}/api/v1/projects", headers=headers(live))
        with SSEReader(base, stream_path(live), headers(live)) as stream:
            stream.message()
            status, _, body = http("GET", f"{base}/metrics")
            assert status == 200
            text = body.decode()
            assert metric(text, 'metaqore_stream_clients{transport="sse"}') == 1
            projects = 'metaqore_http_requests_total{method="GET",route="/api/v1/projects/?$"'
            assert metric(text, projects) >= 3
            assert (
                f'metaqore_artifacts_declared_total{{organization="{live.organization.slug}"'
                in text
            )
        time.sleep(0.5)  # the stream's end is noticed by the server
        text = http("GET", f"{base}/metrics")[2].decode()
        assert metric(text, 'metaqore_stream_clients{transport="sse"}') == 0
