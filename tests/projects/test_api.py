import re

import pytest
from django.db import connection

from tests.conftest import client_for, make_agent_key, use_org


def test_create_list_and_filter_projects(agent_client):
    created = agent_client.post("/api/v1/projects", {"name": "Payments", "status": "planning"})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["id"].startswith("proj_")
    assert body["owner_id"] == "agent:coder"
    agent_client.post("/api/v1/projects/", {"name": "Search"})

    listed = agent_client.get("/api/v1/projects").json()
    assert listed["count"] == 2
    assert set(listed) == {"count", "next", "previous", "results"}
    assert [
        p["name"] for p in agent_client.get("/api/v1/projects?status=planning").json()["results"]
    ] == ["Payments"]
    assert [
        p["name"] for p in agent_client.get("/api/v1/projects?search=sea").json()["results"]
    ] == ["Search"]


def test_org_b_cannot_see_or_touch_org_a_project(agent_client, org_b):
    project_id = agent_client.post("/api/v1/projects", {"name": "Secret"}).json()["id"]
    other = client_for(org_b, key=make_agent_key(org_b))
    assert other.get(f"/api/v1/projects/{project_id}").status_code == 404
    assert other.patch(f"/api/v1/projects/{project_id}", {"name": "x"}).status_code == 404
    assert other.delete(f"/api/v1/projects/{project_id}").status_code == 404
    assert other.get("/api/v1/projects").json()["count"] == 0


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"name": ""},
        {"name": 5},
        {"name": "x" * 201},
        {"name": "p", "status": "done"},
        {"name": "p", "metadata": [1]},
        {"name": "p", "metadata": "text"},
    ],
)
def test_bad_project_input_is_400_with_field_errors(agent_client, payload):
    response = agent_client.post("/api/v1/projects", payload)
    assert response.status_code == 400
    assert isinstance(response.json(), dict) and response.json()


# CRUD ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("slash", ["", "/"])
def test_project_crud_with_and_without_trailing_slash(agent_client, slash):
    created = agent_client.post(
        f"/api/v1/projects{slash}",
        {"name": "Billing", "description": "d", "metadata": {"team": "core"}},
    )
    assert created.status_code == 201, created.content
    project = created.json()
    assert set(project) >= {  # the fields of issue #2 (later issues may add more)
        "id", "name", "description", "owner_id", "status", "metadata", "created_at", "updated_at"
    }  # fmt: skip
    assert project["status"] == "initialized"
    assert project["metadata"] == {"team": "core"}
    assert re.fullmatch(r"proj_[0-9a-f]{12,}", project["id"])
    url = f"/api/v1/projects/{project['id']}{slash}"

    fetched = agent_client.get(url)
    assert fetched.status_code == 200
    assert fetched.json() == project

    patched = agent_client.patch(url, {"status": "in_progress", "metadata": {"team": "infra"}})
    assert patched.status_code == 200, patched.content
    assert patched.json()["status"] == "in_progress"
    assert patched.json()["metadata"] == {"team": "infra"}
    assert patched.json()["name"] == "Billing"
    assert patched.json()["updated_at"] >= project["updated_at"]
    assert agent_client.get(url).json()["status"] == "in_progress"

    deleted = agent_client.delete(url)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert agent_client.get(url).status_code == 404
    assert agent_client.delete(url).status_code == 404
    assert agent_client.patch(url, {"name": "x"}).status_code == 404


def test_routes_do_not_redirect(agent_client):
    for path in ("/api/v1/projects", "/api/v1/projects/", "/api/v1/tasks", "/api/v1/tasks/"):
        response = agent_client.get(path)
        assert response.status_code == 200, path
    created = agent_client.post("/api/v1/projects", {"name": "No redirect"})
    assert created.status_code == 201  # a redirect would have turned the POST into a GET


def test_unknown_project_id_is_404(agent_client):
    for project_id in ("proj_0000000000000000", "nonsense", "x" * 300):
        response = agent_client.get(f"/api/v1/projects/{project_id}")
        assert response.status_code == 404, project_id
        assert response.json() == {"detail": "Not found."}


def test_put_is_not_allowed(agent_client):
    project_id = agent_client.post("/api/v1/projects", {"name": "P"}).json()["id"]
    response = agent_client.put(f"/api/v1/projects/{project_id}", {"name": "Q"})
    assert response.status_code == 405


def test_patch_ignores_read_only_fields(agent_client):
    project = agent_client.post("/api/v1/projects", {"name": "P"}).json()
    response = agent_client.patch(
        f"/api/v1/projects/{project['id']}",
        {"id": "proj_ffffffffffffffff", "created_at": "2000-01-01T00:00:00Z", "owner_id": "me"},
    )
    assert response.status_code == 200
    assert response.json()["id"] == project["id"]
    assert response.json()["created_at"] == project["created_at"]
    assert response.json()["owner_id"] == "me"
    assert agent_client.get("/api/v1/projects/proj_ffffffffffffffff").status_code == 404


def test_deleting_a_project_deletes_its_tasks(agent_client):
    project_id = agent_client.post("/api/v1/projects", {"name": "P"}).json()["id"]
    task_id = agent_client.post("/api/v1/tasks", {"project_id": project_id, "title": "T"}).json()[
        "id"
    ]
    assert agent_client.delete(f"/api/v1/projects/{project_id}").status_code == 204
    assert agent_client.get(f"/api/v1/tasks/{task_id}").status_code == 404


# filters and pagination ---------------------------------------------------------------------


def test_project_filters(agent_client):
    for name, status in [("Alpha one", "planning"), ("alpha two", "blocked"), ("Beta", "planning")]:
        created = agent_client.post("/api/v1/projects", {"name": name, "status": status})
        assert created.status_code == 201

    def names(query: str) -> set[str]:
        response = agent_client.get(f"/api/v1/projects?{query}")
        assert response.status_code == 200, response.content
        return {p["name"] for p in response.json()["results"]}

    assert names("status=planning") == {"Alpha one", "Beta"}
    assert names("search=ALPHA") == {"Alpha one", "alpha two"}
    assert names("search=alpha&status=planning") == {"Alpha one"}
    assert names("status=completed") == set()
    assert names("") == {"Alpha one", "alpha two", "Beta"}


@pytest.mark.parametrize("query", ["status=done", "status=PLANNING", "search=" + "x" * 201])
def test_invalid_project_filter_is_400(agent_client, query):
    response = agent_client.get(f"/api/v1/projects?{query}")
    assert response.status_code == 400
    assert set(response.json()) <= {"status", "search"} and response.json()


def test_null_byte_in_filters_is_400_not_500(agent_client):
    assert agent_client.get("/api/v1/projects?search=a%00b").status_code == 400
    assert agent_client.get("/api/v1/projects/proj_%00").status_code == 404


@pytest.fixture
def many_projects(org_a):
    from access.actors import SYSTEM
    from projects.services import project_create

    for index in range(205):
        project_create(actor=SYSTEM, name=f"bulk {index:03}")


def test_pagination_default_page_size_and_cap(agent_client, many_projects):
    first = agent_client.get("/api/v1/projects").json()
    assert first["count"] == 205
    assert len(first["results"]) == 25
    assert first["previous"] is None
    assert "page=2" in first["next"]
    assert first["next"].startswith("http://alpha.localhost/api/v1/projects")

    second = agent_client.get("/api/v1/projects?page=2").json()
    assert len(second["results"]) == 25
    assert {p["id"] for p in second["results"]}.isdisjoint({p["id"] for p in first["results"]})

    assert len(agent_client.get("/api/v1/projects?page_size=10").json()["results"]) == 10
    capped = agent_client.get("/api/v1/projects?page_size=1000").json()
    assert len(capped["results"]) == 200
    last = agent_client.get("/api/v1/projects?page_size=200&page=2").json()
    assert len(last["results"]) == 5
    assert last["next"] is None
    # Nonsense page sizes fall back to the default.
    for size in ("abc", "0", "-5"):
        assert len(agent_client.get(f"/api/v1/projects?page_size={size}").json()["results"]) == 25


@pytest.mark.parametrize("page", ["0", "abc", "99", "9" * 40])
def test_out_of_range_page_is_404(agent_client, page):
    agent_client.post("/api/v1/projects", {"name": "only"})
    response = agent_client.get(f"/api/v1/projects?page={page}")
    assert response.status_code == 404
    assert response.json() == {"detail": "Invalid page."}


# bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": 5}, "name"),
        ({"name": 10**30}, "name"),
        ({"name": None}, "name"),
        ({"name": ["a"]}, "name"),
        ({"name": {"a": 1}}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({"name": "p", "description": "x\x00"}, "description"),
        ({"name": "p", "description": "x" * 10_001}, "description"),
        ({"name": "p", "owner_id": 7}, "owner_id"),
        ({"name": "p", "status": "unknown"}, "status"),
        ({"name": "p", "status": None}, "status"),
        ({"name": "p", "metadata": None}, "metadata"),
        ({"name": "p", "metadata": 5}, "metadata"),
        ({"name": "p", "metadata": {"k": "v\x00"}}, "metadata"),
        ({"name": "p", "metadata": {"k\x00": "v"}}, "metadata"),
        ({"name": "p", "metadata": {"deep": [[["\x00"]]]}}, "metadata"),
    ],
)
def test_bad_project_fields_are_400_with_the_field_named(agent_client, payload, field):
    response = agent_client.post("/api/v1/projects", payload)
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert agent_client.get("/api/v1/projects").json()["count"] == 0


def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"n": value}
    return value


def post_raw(client, path: str, body: bytes | str, method: str = "post"):
    if isinstance(body, str):
        body = body.encode()
    return getattr(client, method)(path, body, content_type="application/json")


@pytest.mark.parametrize(
    "body",
    [
        "{",
        "not json",
        '{"name": "p",}',
        "",
        '{"name": "p", "metadata": {"x": NaN}}',
        '{"name": "p", "metadata": {"x": Infinity}}',
        '{"name": "p", "metadata": {"x": -Infinity}}',
        '{"name": "p", "metadata": {"x": 1e400}}',
        '{"name": "p", "metadata": {"x": -1e400}}',
        '{"name": "p", "metadata": {"x": ' + "9" * 5000 + "}}",
        '["name", "p"]',
        "[]",
        "null",
        '"a string"',
        "42",
        '{"name": "p\\u0000"}',
        '{"name": "p", "metadata": {"a\\u0000": 1}}',
        '{"name": "p", "metadata": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"name": "p", "metadata": ' + '{"a":' * 50_000 + "1" + "}" * 50_000 + "}",
        b'{"name": "\xff\xfe"}',
    ],
    ids=lambda body: repr(body[:40]),
)
def test_malformed_bodies_are_400_never_500(agent_client, body):
    response = post_raw(agent_client, "/api/v1/projects", body)
    assert response.status_code == 400, response.content[:300]
    assert isinstance(response.json(), dict) and response.json()
    assert agent_client.get("/api/v1/projects").json()["count"] == 0


def test_deeply_nested_metadata_is_400(agent_client):
    response = agent_client.post("/api/v1/projects", {"name": "p", "metadata": nested(50)})
    assert response.status_code == 400
    assert "metadata" in response.json()
    # A reasonable depth is fine.
    ok = agent_client.post("/api/v1/projects", {"name": "p", "metadata": nested(10)})
    assert ok.status_code == 201
    assert ok.json()["metadata"] == nested(10)


def test_big_but_valid_numbers_round_trip(agent_client):
    # (jsonb keeps numbers exactly; a float written as 1.5e308 would come back as an integer.)
    metadata = {"big": 10**100, "neg": -(10**50), "float": 0.1, "exp": 1.5e-7}
    created = agent_client.post("/api/v1/projects", {"name": "numbers", "metadata": metadata})
    assert created.status_code == 201, created.content
    fetched = agent_client.get(f"/api/v1/projects/{created.json()['id']}").json()
    assert fetched["metadata"] == metadata


def test_unicode_round_trips(agent_client):
    # Bidirectional overrides (U+202E) are refused in names: tests/test_request_hardening.py
    name = "Zürich 東京 🚀 עברית"
    created = agent_client.post("/api/v1/projects", {"name": name, "metadata": {"é": "ü"}})
    assert created.status_code == 201
    assert agent_client.get(f"/api/v1/projects/{created.json()['id']}").json()["name"] == name


def test_bad_patch_is_400_and_changes_nothing(agent_client):
    project = agent_client.post("/api/v1/projects", {"name": "P", "metadata": {"a": 1}}).json()
    url = f"/api/v1/projects/{project['id']}"
    for payload in (
        {"name": 5},
        {"name": ""},
        {"status": "nope"},
        {"metadata": [1]},
        {"metadata": {"x": "\x00"}},
    ):
        response = agent_client.patch(url, payload)
        assert response.status_code == 400, payload
    for body in ("[1]", "{", '{"metadata": {"x": NaN}}'):
        assert post_raw(agent_client, url, body, method="patch").status_code == 400, body
    assert agent_client.get(url).json() == project


def test_body_over_one_mebibyte_is_413(agent_client):
    body = '{"name": "p", "description": "' + "x" * (2 * 1024 * 1024) + '"}'
    response = post_raw(agent_client, "/api/v1/projects", body)
    assert response.status_code == 413
    assert "too large" in response.json()["detail"]
    assert response["X-Request-ID"]
    assert agent_client.get("/api/v1/projects").json()["count"] == 0


def test_body_just_under_the_limit_is_parsed(agent_client):
    # Under 1 MiB the body reaches the serializer, which rejects the long description as a field.
    body = '{"name": "p", "description": "' + "x" * (1024 * 1024 - 100) + '"}'
    response = post_raw(agent_client, "/api/v1/projects", body)
    assert response.status_code == 400
    assert "description" in response.json()


def test_form_encoded_body_is_415(agent_client):
    response = agent_client.post(
        "/api/v1/projects", "name=p", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415


@pytest.mark.parametrize("resource", ["projects", "tasks"])
def test_pages_never_overlap_even_when_creation_times_tie(agent_client, org_a, resource):
    project_id = agent_client.post("/api/v1/projects", {"name": "home"}).json()["id"]
    for index in range(39):
        payload = {"name": f"p{index}", "project_id": project_id, "title": f"t{index}"}
        assert agent_client.post(f"/api/v1/{resource}", payload).status_code == 201
    use_org(org_a)
    with connection.cursor() as cursor:  # as if all were created in the same microsecond
        cursor.execute(f"UPDATE projects_{resource[:-1]} SET created_at = '2026-01-01T00:00:00Z'")
    seen: list[str] = []
    for page in range(1, 7):
        response = agent_client.get(f"/api/v1/{resource}?page_size=7&page={page}")
        assert response.status_code == 200
        seen += [row["id"] for row in response.json()["results"]]
    assert len(seen) == 40 if resource == "projects" else 39
    assert len(set(seen)) == len(seen)
