"""Choosing the organization of a request (Host or X-MetaQore-Org), and request ids."""

from __future__ import annotations

import re

import pytest
from rest_framework.test import APIClient

from tests.conftest import make_agent_key

GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")


def on_host(host: str, **headers: str) -> APIClient:
    return APIClient(
        HTTP_HOST=host, **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    )


def test_public_host_health_has_no_organization(db):
    for host in ("localhost", "127.0.0.1"):
        response = on_host(host).get("/api/v1/health")
        assert response.status_code == 200
        assert response.json()["organization"] is None


def test_org_host_health_names_the_org(db):
    response = on_host("alpha.localhost").get("/api/v1/health")
    assert response.status_code == 200
    assert response.json()["organization"] == "alpha"
    assert on_host("beta.localhost").get("/api/v1/health/").json()["organization"] == "beta"


def test_org_host_with_port_is_routed(db):
    response = on_host("alpha.localhost:8001").get("/api/v1/health")
    assert response.json()["organization"] == "alpha"


def test_org_header_on_bare_host_works_like_the_org_host(org_a):
    key = make_agent_key(org_a)
    by_host = on_host("alpha.localhost", authorization=f"Bearer {key}")
    by_header = on_host("127.0.0.1", x_metaqore_org="alpha", authorization=f"Bearer {key}")

    created = by_header.post("/api/v1/projects", {"name": "Via header"}, format="json")
    assert created.status_code == 201, created.content
    project_id = created.json()["id"]
    # The same project, seen through the org's host: same schema.
    assert by_host.get(f"/api/v1/projects/{project_id}").json()["name"] == "Via header"
    assert by_header.get("/api/v1/projects").json() == by_host.get("/api/v1/projects").json()
    assert by_header.get("/api/v1/health").json()["organization"] == "alpha"
    # Also on `localhost` and with the header's value padded.
    padded = on_host("localhost", x_metaqore_org=" alpha ", authorization=f"Bearer {key}")
    assert padded.get(f"/api/v1/projects/{project_id}").status_code == 200


def test_org_header_matching_the_org_host_is_accepted(db):
    response = on_host("alpha.localhost", x_metaqore_org="alpha").get("/api/v1/health")
    assert response.status_code == 200
    assert response.json()["organization"] == "alpha"


def test_org_header_with_unknown_slug_is_404_json(db):
    response = on_host("127.0.0.1", x_metaqore_org="nope").get("/api/v1/health")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Unknown organization 'nope'."}


def test_org_header_mismatching_the_org_host_is_400(db):
    response = on_host("alpha.localhost", x_metaqore_org="beta").get("/api/v1/health")
    assert response.status_code == 400
    assert "does not match" in response.json()["detail"]


def test_unknown_host_is_404_json(db):
    response = on_host("nobody.localhost").get("/api/v1/health")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "No organization serves host 'nobody.localhost'."}


def test_disallowed_host_is_400_json(db):
    response = on_host("evil.example.com").get("/api/v1/health")
    assert response.status_code == 400
    assert response.json() == {"detail": "Unknown host."}


def test_public_host_serves_no_org_api(db):
    # Projects exist only inside an org; the bare host without the header has no such route.
    response = on_host("127.0.0.1").get("/api/v1/projects")
    assert response.status_code == 404


@pytest.mark.parametrize("host", ["127.0.0.1", "alpha.localhost"])
def test_request_id_is_echoed_when_sane(db, host):
    response = on_host(host, x_request_id="trace-42.a:b_c").get("/api/v1/health")
    assert response["X-Request-ID"] == "trace-42.a:b_c"


@pytest.mark.parametrize("supplied", ["", "has space", "x" * 129, "semi;colon", "é", "id\n"])
def test_request_id_is_generated_when_missing_or_insane(db, supplied):
    headers = {"x_request_id": supplied} if supplied else {}
    response = on_host("alpha.localhost", **headers).get("/api/v1/health")
    assert GENERATED_ID.match(response["X-Request-ID"])
    again = on_host("alpha.localhost", **headers).get("/api/v1/health")
    assert again["X-Request-ID"] != response["X-Request-ID"]


@pytest.mark.parametrize(
    ("host", "headers", "path", "status"),
    [
        ("alpha.localhost", {}, "/api/v1/projects", 401),
        ("alpha.localhost", {}, "/api/v1/nowhere", 404),
        ("nobody.localhost", {}, "/api/v1/health", 404),
        ("127.0.0.1", {"x_metaqore_org": "nope"}, "/api/v1/health", 404),
        ("alpha.localhost", {"x_metaqore_org": "beta"}, "/api/v1/health", 400),
        ("evil.example.com", {}, "/api/v1/health", 400),
        ("localhost", {}, "/api/v1/schema/", 200),
    ],
)
def test_every_response_carries_a_request_id(db, host, headers, path, status):
    response = on_host(host, **headers).get(path)
    assert response.status_code == status
    assert GENERATED_ID.match(response["X-Request-ID"])


@pytest.mark.parametrize("slug", ["al\x00pha", "ALPHA", "alpha;drop", "x" * 500, "../alpha"])
def test_malformed_org_header_is_404_not_a_database_error(db, slug):
    response = on_host("127.0.0.1", x_metaqore_org=slug).get("/api/v1/health")
    assert response.status_code == 404
    assert response.json()["detail"].startswith("Unknown organization")


def test_host_names_match_case_insensitively(db):
    """Reproduced (issue #18): ``ALPHA.localhost`` answered 404."""
    for host in ("ALPHA.localhost", "Alpha.LocalHost:8001"):
        response = on_host(host).get("/api/v1/health")
        assert response.status_code == 200, host
        assert response.json()["organization"] == "alpha"
    assert on_host("LOCALHOST").get("/api/v1/health").json()["organization"] is None
