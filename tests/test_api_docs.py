"""OpenAPI schema and Swagger UI: public, on every host, and usable offline."""

from __future__ import annotations

import re

import pytest
from rest_framework.test import APIClient

HOSTS = ["localhost", "127.0.0.1", "alpha.localhost"]
ASSET = re.compile(r"""(?:src|href)=["']([^"']+)["']""")


@pytest.mark.parametrize("host", HOSTS)
def test_schema_is_public_openapi_3(db, host):
    response = APIClient(HTTP_HOST=host).get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "MetaQore API"
    for path in (
        "/api/v1/projects/",
        "/api/v1/projects/{id}/",
        "/api/v1/tasks/",
        "/api/v1/health/",
    ):
        assert path in schema["paths"], path
    assert {"AgentKey", "JWT"} <= set(schema["components"]["securitySchemes"])


@pytest.mark.parametrize("path", ["/api/v1/schema/", "/api/v1/schema"])
def test_schema_default_format_without_slash(db, path):
    response = APIClient(HTTP_HOST="alpha.localhost").get(path)
    assert response.status_code == 200
    assert response.content.startswith(b"openapi: 3.")


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("path", ["/api/v1/docs/", "/api/v1/docs"])
def test_swagger_ui_is_public_and_uses_only_local_assets(db, host, path):
    client = APIClient(HTTP_HOST=host)
    response = client.get(path)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assets = ASSET.findall(html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets), assets
    assert all(a.startswith("/static/") for a in assets), assets
    # No CDN anywhere in the page, not even in the inline script.
    assert not re.search(r"https?://", html)
    assert 'url: "/api/v1/schema"' in html  # the schema, from the same host

    for asset in assets:
        served = client.get(asset)
        assert served.status_code == 200, asset
        body = b"".join(served.streaming_content) if served.streaming else served.content
        assert len(body) > 0


def test_docs_need_no_credential_even_when_one_is_wrong(db):
    client = APIClient(HTTP_HOST="alpha.localhost", HTTP_AUTHORIZATION="Bearer mq_wrong")
    assert client.get("/api/v1/docs/").status_code == 200
    assert client.get("/api/v1/schema/").status_code == 200


def test_the_live_event_endpoints_are_in_the_schema(db):
    """The SSE stream and the WebSocket are not DRF views; the schema still describes them."""
    schema = APIClient(HTTP_HOST="localhost").get("/api/v1/schema/?format=json").json()
    stream = schema["paths"]["/api/v1/events/stream/"]["get"]
    assert list(stream["responses"]["200"]["content"]) == ["text/event-stream"]
    assert {"event_types", "project_ids", "since", "Last-Event-ID"} <= {
        parameter["name"] for parameter in stream["parameters"]
    }
    assert {"401", "403"} <= set(stream["responses"]) and stream["x-streaming"] is True
    websocket = schema["paths"]["/api/v1/events/ws/"]["get"]
    assert list(websocket["responses"]) == ["101"] and websocket["x-websocket"] is True
    assert (
        "4401" in websocket["description"] and '"action": "subscribe"' in websocket["description"]
    )
    schemes = set(schema["components"]["securitySchemes"])
    for operation in (stream, websocket):
        assert all(set(requirement) <= schemes for requirement in operation["security"])


def headers_of(operation: dict) -> dict[str, dict]:
    return {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "header"}


def test_the_idempotency_key_header_is_documented_on_posts_only(db):
    """access/idempotency.py replays POSTs only: the schema offers the header there."""
    paths = APIClient(HTTP_HOST="localhost").get("/api/v1/schema/?format=json").json()["paths"]
    declare = paths["/api/v1/artifacts/"]["post"]
    header = headers_of(declare)["Idempotency-Key"]
    assert not header.get("required", False)
    assert header["schema"] == {"type": "string", "minLength": 1, "maxLength": 255}
    assert "Idempotency-Key" not in headers_of(paths["/api/v1/artifacts/"]["get"])
    assert "Idempotency-Key" not in headers_of(paths["/api/v1/artifacts/{id}/"]["patch"])
    posts = [item["post"] for item in paths.values() if "post" in item]
    assert len(posts) > 20 and all("Idempotency-Key" in headers_of(post) for post in posts)
    # Its errors are documented where nothing else answers them (a body-less POST's 400, the
    # 409 of a webhook whose secret was shown once)
    assert "400" in paths["/api/v1/governance/agent-keys/{id}/revoke/"]["post"]["responses"]
    webhook_409 = paths["/api/v1/webhooks/"]["post"]["responses"]["409"]["description"]
    assert "idempotent_response_not_kept" in webhook_409
