"""Hostile input (issue #6): every request body field is bounded, and what PostgreSQL cannot
store (NUL, lone surrogates, non-finite numbers) or Python cannot parse is a 400 with the field
named, never a 500, and stores nothing."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from access.roles import ORG_ADMIN
from compliance.models import AuditEvent
from projects.models import Project
from tests.conftest import client_for, make_agent_key, make_user, use_org, user_token

LONE_SURROGATE = "\\ud800"  # as JSON text: a valid escape, but no UTF-8 encoding exists


@pytest.fixture
def admin(org_a):
    return client_for(org_a, token=user_token(org_a, make_user(org_a, "hostile-admin", ORG_ADMIN)))


@pytest.fixture
def project(agent_client):
    return agent_client.post("/api/v1/projects", {"name": "Target"}).json()["id"]


def post_raw(client: APIClient, path: str, body: str, method: str = "post"):
    return getattr(client, method)(path, body.encode(), content_type="application/json")


def schema_of(client: APIClient) -> dict:
    return client.get("/api/v1/schema/?format=json").json()


# The schema proves it for every body field, present and future ----------------------------


def request_body_fields(schema: dict):
    components = schema["components"]["schemas"]
    seen = set()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for content in operation.get("requestBody", {}).get("content", {}).values():
                name = content["schema"]["$ref"].rsplit("/", 1)[-1]
                if name in seen:
                    continue
                seen.add(name)
                for field, spec in components[name].get("properties", {}).items():
                    if not spec.get("readOnly"):
                        yield f"{method.upper()} {path} {name}.{field}", spec, components


def unbounded(spec: dict, components: dict) -> str | None:
    """Why ``spec`` accepts unbounded input, or None."""
    if "$ref" in spec:
        return unbounded(components[spec["$ref"].rsplit("/", 1)[-1]], components)
    for key in ("allOf", "oneOf", "anyOf"):
        if key in spec:
            reasons = [unbounded(part, components) for part in spec[key]]
            return next((reason for reason in reasons if reason), None)
    kind = spec.get("type")
    if "enum" in spec or kind == "boolean":
        return None
    if kind == "string":
        return None if "maxLength" in spec or spec.get("format") == "date-time" else "maxLength"
    if kind in ("integer", "number"):
        return None if "maximum" in spec and "minimum" in spec else "minimum/maximum"
    if kind == "array":
        return "maxItems" if "maxItems" not in spec else unbounded(spec["items"], components)
    if kind == "object":
        if "properties" in spec:
            reasons = [unbounded(item, components) for item in spec["properties"].values()]
            return next((reason for reason in reasons if reason), None)
        return None if "maxProperties" in spec else "maxProperties"
    return f"a type ({spec})"


def test_every_request_body_field_is_bounded(db):
    schema = schema_of(APIClient(HTTP_HOST="alpha.localhost"))
    fields = list(request_body_fields(schema))
    assert len(fields) > 40
    missing = [
        f"{name}: no {reason}"
        for name, spec, components in fields
        if (reason := unbounded(spec, components))
    ]
    assert not missing, "\n".join(missing)


def test_json_object_fields_document_their_limits(db):
    schema = schema_of(APIClient(HTTP_HOST="alpha.localhost"))
    data = schema["components"]["schemas"]["ArtifactRequest"]["properties"]["data"]
    assert data["type"] == "object"
    assert data["maxProperties"] == 10_000
    assert "20 levels" in data["description"]


# Characters PostgreSQL cannot store -------------------------------------------------------


@pytest.mark.parametrize(
    "path, body, field",
    [
        ("/api/v1/projects", '{"name": "a%sb"}', "name"),
        ("/api/v1/projects", '{"name": "p", "description": "%s"}', "description"),
        ("/api/v1/projects", '{"name": "p", "status": "%s"}', "status"),  # echoed in the error
        ("/api/v1/projects", '{"name": "p", "metadata": {"k": "%s"}}', "metadata"),
        ("/api/v1/projects", '{"name": "p", "metadata": {"%s": 1}}', "metadata"),
        ("/api/v1/projects", '{"name": "p", "metadata": {"a": [[{"b": "%s"}]]}}', "metadata"),
        ("/api/v1/tasks", '{"project_id": "proj_%s", "title": "T"}', "project_id"),
        ("/api/v1/tasks", '{"project_id": "PROJECT", "title": "T%s"}', "title"),
        ("/api/v1/tasks", '{"project_id": "PROJECT", "title": "T", "depends_on": ["task_%s"]}',
         "depends_on"),
        ("/api/v1/artifacts", '{"project_id": "PROJECT", "artifact_type": "c%s", "data": {}}',
         "artifact_type"),
        ("/api/v1/artifacts", '{"project_id": "PROJECT", "artifact_type": "c", "data": {"%s": 1}}',
         "data"),
        ("/api/v1/artifacts",
         '{"project_id": "PROJECT", "artifact_type": "c", "data": {}, "file_paths": ["a%s"]}',
         "file_paths"),
        ("/api/v1/artifacts",
         '{"project_id": "PROJECT", "artifact_type": "c", "data": {}, "requirements": {"%s": "1"}}',
         "requirements"),
        ("/api/v1/artifacts",
         '{"project_id": "PROJECT", "artifact_type": "c", "data": {}, "requirements": {"d": "%s"}}',
         "requirements"),
        ("/api/v1/governance/routing/classify", '{"agent_name": "%s"}', "agent_name"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("char", ["\\u0000", LONE_SURROGATE], ids=["nul", "surrogate"])
def test_unstorable_characters_are_400_and_store_nothing(
    agent_client, project, org_a, path, body, field, char
):
    use_org(org_a)
    events, projects = AuditEvent.objects.count(), Project.objects.count()
    response = post_raw(agent_client, path, body.replace("PROJECT", project) % char)
    assert response.status_code == 400, response.content
    assert field in response.json()
    use_org(org_a)
    assert (AuditEvent.objects.count(), Project.objects.count()) == (events, projects)


@pytest.mark.parametrize("char", ["\\u0000", LONE_SURROGATE], ids=["nul", "surrogate"])
@pytest.mark.parametrize(
    "path, body",
    [
        ("/api/v1/governance/conflicts/CONFLICT/resolve", '{"strategy": "merge", "note": "%s"}'),
        ("/api/v1/governance/agent-keys", '{"agent": "a%s"}'),
        ("/api/v1/governance/providers", '{"name": "p%s", "kind": "local"}'),
        ("/api/v1/governance/policy", '{"routing_policy": "%s"}'),
        ("/api/v1/governance/policy", '{"mode": "%s"}'),
    ],
)
def test_unstorable_characters_in_admin_writes_are_400(admin, path, body, char):
    method = "patch" if path.endswith("policy") else "post"
    path = path.replace("CONFLICT", "conf_0123456789abcdef")
    response = post_raw(admin, path, body % char, method=method)
    assert response.status_code in (400, 404), response.content
    if response.status_code == 404:  # the conflict does not exist: still no 500
        return
    assert response.json()


@pytest.mark.parametrize("char", ["\\u0000", LONE_SURROGATE], ids=["nul", "surrogate"])
def test_unstorable_characters_in_privileged_writes_are_400(org_a, char):
    client = client_for(org_a, key=make_agent_key(org_a, "studio", privileged=True))
    body = '{"project_id": "proj_@"}'.replace("@", char)
    response = post_raw(client, "/api/v1/internal/conflicts/auto-resolve", body)
    assert response.status_code == 400, response.content
    assert "project_id" in response.json()


def test_unstorable_query_values_are_400(agent_client):
    response = agent_client.get("/api/v1/governance/blocking-report?project_id=proj_%00")
    assert response.status_code == 400, response.content
    assert "project_id" in response.json()
    # Invalid UTF-8 is decoded with U+FFFD: a well-formed, unknown id.
    response = agent_client.get("/api/v1/governance/blocking-report?project_id=proj_%ED%A0%80")
    assert response.status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        '{"username": "a\\u0000", "password": "x"}',
        '{"username": "a@", "password": "x"}'.replace("@", LONE_SURROGATE),
        '{"username": "a", "password": "x@"}'.replace("@", LONE_SURROGATE),
        json.dumps({"username": "a" * 151, "password": "x"}),
        json.dumps({"username": "a", "password": "x" * 4097}),
    ],
    ids=["nul", "surrogate-user", "surrogate-password", "long-user", "long-password"],
)
def test_token_endpoint_bounds_its_fields(org_a, body):
    response = post_raw(client_for(org_a), "/api/v1/auth/token/", body)
    assert response.status_code == 400, response.content


def test_refresh_token_is_bounded(org_a):
    response = post_raw(client_for(org_a), "/api/v1/auth/token/refresh/", json.dumps(
        {"refresh": "x" * 5000}
    ))  # fmt: skip
    assert response.status_code == 400
    assert "refresh" in response.json()


# Numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [
        ("latency_ms", "1e400"),
        ("latency_ms", "99999999999999999999"),
        ("latency_ms", "-1"),
        ("priority", "2147483648"),
        ("capacity_score", "1e400"),
        ("capacity_score", "-1e400"),
        ("capacity_score", "1.5"),
    ],
)
def test_out_of_range_numbers_are_400(admin, field, value):
    body = json.dumps({"name": "big-numbers", "kind": "local", field: 0}).replace("0}", value + "}")
    response = post_raw(admin, "/api/v1/governance/providers", body)
    assert response.status_code == 400, response.content
    assert field in response.json()


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1" * 5000])
def test_unparseable_numbers_are_400(admin, literal):
    body = '{"name": "nan", "kind": "local", "capacity_score": @}'.replace("@", literal)
    response = post_raw(admin, "/api/v1/governance/providers", body)
    assert response.status_code == 400, response.content


def test_huge_artifact_version_is_400(coder_client, project):
    response = coder_client.post(
        "/api/v1/artifacts",
        {"project_id": project, "artifact_type": "c", "data": {}, "version": 2**63},
    )
    assert response.status_code == 400
    assert "version" in response.json()


@pytest.fixture
def coder_client(agent_client):
    return agent_client


# Sizes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"depends_on": [f"art_{i:012x}" for i in range(501)]}, "depends_on"),
        ({"file_paths": [f"src/{i}.py" for i in range(501)]}, "file_paths"),
        ({"file_paths": ["a" * 1001]}, "file_paths"),
        ({"requirements": {f"pkg{i}": ">=1" for i in range(201)}}, "requirements"),
        ({"requirements": {"p" * 101: ">=1"}}, "requirements"),
        ({"artifact_type": "t" * 101}, "artifact_type"),
        ({"data": {"k": [0] * 10_001}}, "data"),
    ],
)
def test_oversized_declarations_are_400(agent_client, project, fields, field):
    body = {"project_id": project, "artifact_type": "c", "data": {}, **fields}
    response = agent_client.post("/api/v1/artifacts", body)
    assert response.status_code == 400, response.content
    assert field in response.json()


def test_json_nested_past_the_parser_is_400(agent_client):
    body = '{"name": "p", "metadata": ' + "[" * 100_000 + "]" * 100_000 + "}"
    assert post_raw(agent_client, "/api/v1/projects", body).status_code == 400


# Unmatched URLs under /api/ answer JSON -------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/governance/providers/bad%20name",
        "/api/v1/governance/agent-keys/1.5/revoke",
        "/api/v1/governance/compliance/audit/" + "x" * 100,
        "/api/v1/nothing-here",
    ],
)
def test_unknown_api_urls_are_json_404(agent_client, path):
    response = agent_client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"]


@pytest.mark.parametrize("key_id", ["99999999999999999999999", "-1", "1e5", "%00"])
def test_odd_integer_ids_are_404(admin, key_id):
    assert admin.get(f"/api/v1/governance/agent-keys/{key_id}").status_code == 404


def test_an_unexpected_error_is_json_500_with_the_request_id(org_a, monkeypatch):
    def broken(project):
        raise RuntimeError("boom")

    monkeypatch.setattr("governance.api.views.blocking_report", broken)
    client = client_for(org_a, key=make_agent_key(org_a))
    client.raise_request_exception = False
    project = client.post("/api/v1/projects", {"name": "p"}).json()["id"]
    response = client.get(f"/api/v1/governance/blocking-report?project_id={project}")
    assert response.status_code == 500
    assert response.json() == {
        "detail": "Internal server error.",
        "code": "server_error",
        "request_id": response["X-Request-ID"],
    }


def test_unknown_page_outside_the_api_stays_html(org_a):
    response = client_for(org_a).get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
