"""GET /api/v1/health: no auth, a real database round trip, 503 when the database is down."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from tests.processes import http, running_server, subprocess_env


@pytest.mark.parametrize(
    ("host", "organization"),
    [("localhost", None), ("127.0.0.1", None), ("alpha.localhost", "alpha")],
)
@pytest.mark.parametrize("path", ["/api/v1/health", "/api/v1/health/"])
def test_health_payload(db, host, organization, path):
    response = APIClient(HTTP_HOST=host).get(path)
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "version": settings.VERSION,
        "organization": organization,
    }
    assert response["X-Request-ID"]


def test_health_needs_no_credential_and_ignores_a_bad_one(db):
    client = APIClient(HTTP_HOST="alpha.localhost", HTTP_AUTHORIZATION="Bearer mq_wrong")
    assert client.get("/api/v1/health").status_code == 200


def test_health_when_the_database_is_down_is_503():
    """A real server process whose DATABASE_URL points at a port where nothing listens."""
    env = subprocess_env(DATABASE_URL="postgresql://postgres@127.0.0.1:1/nowhere")
    with running_server(env, kind="gunicorn") as base:
        status, headers, body = http("GET", f"{base}/api/v1/health")
        assert status == 503, body
        assert json.loads(body) == {
            "status": "error",
            "database": "error",
            "version": settings.VERSION,
            "organization": None,
        }
        assert headers["X-Request-ID"]

        # An org's host needs the database to find the org: 503 JSON as well, not a 500.
        status, headers, body = http(
            "GET", f"{base}/api/v1/health", headers={"Host": "alpha.localhost"}
        )
        assert status == 503, body
        assert json.loads(body)["database"] == "error"
        status, _, body = http("GET", f"{base}/api/v1/health", headers={"X-MetaQore-Org": "alpha"})
        assert status == 503, body
        assert json.loads(body)["database"] == "error"
