"""The API server (metaqore_site.api_server: Granian's WSGI workers) as production runs it:
two worker processes, rate limits counted in a real Redis, the runtime database role."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from compliance.models import AuditEvent
from tests.e2e.test_ratelimit_shared import REDIS_URL, redis_or_skip
from tests.events.live import LiveOrg, committed_org
from tests.processes import database_url, http, running_server, subprocess_env

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]


@pytest.fixture(scope="module")
def live(django_db_setup, django_db_blocker) -> Iterator[LiveOrg]:
    with django_db_blocker.unblock(), committed_org("api-server") as organization:
        yield organization


def server_env(**overrides: str) -> dict[str, str]:
    redis_or_skip()
    return subprocess_env(
        DATABASE_URL=database_url(connection.settings_dict),
        REDIS_URL=REDIS_URL,
        METAQORE_CACHE_KEY_PREFIX=f"api-server-{uuid.uuid4().hex}",
        WEB_CONCURRENCY="2",
        **overrides,
    )


@pytest.fixture(scope="module")
def api_base(live, tmp_path_factory) -> Iterator[str]:
    """One API server (two workers) for the tests that need no settings of their own."""
    log = tmp_path_factory.mktemp("api-server") / "server.log"
    with running_server(server_env(), kind="api", log=log) as base:
        yield base


def agent(live: LiveOrg) -> dict[str, str]:
    return {"Host": live.domain, "Authorization": f"Bearer {live.key}"}


def test_serves_reads_and_governed_declarations(live, api_base):
    status, headers, body = http("GET", f"{api_base}/api/v1/health", headers={"Host": live.domain})
    assert status == 200, body
    assert json.loads(body)["organization"] == live.organization.slug
    assert headers["X-Request-ID"]
    assert int(headers["X-RateLimit-Remaining"]) > 0

    status, _, body = http(
        "GET", f"{api_base}/api/v1/projects/{live.project_id}", headers=agent(live)
    )
    assert status == 200, body
    assert json.loads(body)["id"] == live.project_id

    declaration = {"project_id": live.project_id, "artifact_type": "api-server", "data": {}}
    status, headers_of_declaration, body = http(
        "POST",
        f"{api_base}/api/v1/artifacts",
        headers={**agent(live), "Content-Type": "application/json"},
        body=json.dumps(declaration).encode(),
    )
    assert status == 201, body
    artifact = json.loads(body)["id"]
    with schema_context(live.organization.schema_name):
        declared = AuditEvent.objects.get(event_type="artifact.declared", resource_id=artifact)
    assert declared.request_id == headers_of_declaration["X-Request-ID"]

    # Bad input: field errors, not a 500
    status, _, body = http(
        "POST",
        f"{api_base}/api/v1/artifacts",
        headers={**agent(live), "Content-Type": "application/json"},
        body=b'{"project_id": 7}',
    )
    assert status == 400, body
    assert "artifact_type" in json.loads(body)


def test_streams_answer_501_pointing_at_the_asgi_server(live, api_base):
    status, headers, body = http("POST", f"{api_base}/mcp", headers=agent(live), body=b"{}")
    assert status == 501
    assert headers["Content-Type"] == "application/json"
    assert "ASGI server" in json.loads(body)["detail"]

    status, _, body = http("GET", f"{api_base}/api/v1/events/stream", headers=agent(live))
    assert status == 501
    assert "ASGI server" in json.loads(body)["detail"]


def test_metrics_sum_every_worker(live, api_base):
    """Each request opens its own connection, so both workers serve some; a scrape answered
    by either worker reports all of them (PROMETHEUS_MULTIPROC_DIR, set by the server)."""
    pattern = re.compile(
        r'^metaqore_http_requests_total\{[^}]*route="[^"]*health[^"]*"[^}]*status="200"[^}]*\}'
        r" (\S+)$",
        re.MULTILINE,
    )

    def health_served() -> float:
        status, _, body = http("GET", f"{api_base}/metrics")
        assert status == 200
        return sum(float(value) for value in pattern.findall(body.decode()))

    before = health_served()  # what the server answered before this test
    for _ in range(20):
        assert http("GET", f"{api_base}/api/v1/health", headers={"Host": live.domain})[0] == 200
    assert [health_served() for _ in range(6)] == [before + 20] * 6


def test_forwarded_for_counts_the_client_only_from_a_trusted_proxy(live, tmp_path):
    """Rate limits count X-Forwarded-For's client when the peer is a trusted proxy
    (FORWARDED_ALLOW_IPS, default 127.0.0.1: this test's own address), the peer otherwise."""
    limits = {"METAQORE_RATE_LIMIT_PER_MINUTE": "5", "METAQORE_RATE_LIMIT_BURST": "5"}

    def remaining(base: str, client: str | None) -> int | str:
        """What is left of the budget after this request, or its status when refused."""
        headers = {"Host": live.domain} | ({"X-Forwarded-For": client} if client else {})
        status, response, _ = http("GET", f"{base}/api/v1/health", headers=headers)
        return int(response["X-RateLimit-Remaining"]) if status == 200 else status

    with running_server(server_env(**limits), kind="api", log=tmp_path / "trusted.log") as base:
        assert [remaining(base, "203.0.113.7") for _ in range(6)] == [4, 3, 2, 1, 0, 429]
        assert remaining(base, "203.0.113.8") == 4  # another client: its own budget

    untrusted = server_env(**limits, FORWARDED_ALLOW_IPS="192.0.2.1")
    with running_server(untrusted, kind="api", log=tmp_path / "untrusted.log") as base:
        left = remaining(base, None)  # this test's own address
        # The header is ignored: every request spends the peer's budget
        assert [remaining(base, f"203.0.113.{n}") for n in range(10, 12)] == [left - 1, left - 2]
