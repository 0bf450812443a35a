"""Tasks: CRUD, filters, dependencies, completion time, and bad input."""

from __future__ import annotations

import re

import pytest

from tests.conftest import client_for, make_agent_key


@pytest.fixture
def project_id(agent_client) -> str:
    return agent_client.post("/api/v1/projects", {"name": "Tasks home"}).json()["id"]


def new_task(client, project_id: str, **fields) -> dict:
    response = client.post("/api/v1/tasks", {"project_id": project_id, "title": "T", **fields})
    assert response.status_code == 201, response.content
    return response.json()


@pytest.mark.parametrize("slash", ["", "/"])
def test_task_crud_with_and_without_trailing_slash(agent_client, project_id, slash):
    created = agent_client.post(
        f"/api/v1/tasks{slash}",
        {"project_id": project_id, "title": "Write tests", "assigned_to": "tester"},
    )
    assert created.status_code == 201, created.content
    task = created.json()
    assert set(task) >= {  # the fields of issue #2 (later issues may add more)
        "id", "project_id", "title", "description", "status", "assigned_to", "depends_on",
        "metadata", "created_at", "updated_at", "completed_at",
    }  # fmt: skip
    assert re.fullmatch(r"task_[0-9a-f]{12,}", task["id"])
    assert task["project_id"] == project_id
    assert task["status"] == "pending"
    assert task["depends_on"] == []
    assert task["metadata"] == {}
    assert task["completed_at"] is None
    url = f"/api/v1/tasks/{task['id']}{slash}"

    assert agent_client.get(url).json() == task
    patched = agent_client.patch(url, {"title": "Write more tests", "metadata": {"n": 1}})
    assert patched.status_code == 200, patched.content
    assert patched.json()["title"] == "Write more tests"
    assert patched.json()["assigned_to"] == "tester"
    assert patched.json()["metadata"] == {"n": 1}

    assert agent_client.delete(url).status_code == 204
    assert agent_client.get(url).status_code == 404
    assert agent_client.delete(url).status_code == 404


def test_unknown_task_id_is_404(agent_client):
    for task_id in ("task_0000000000000000", "nope", "task_%00"):
        response = agent_client.get(f"/api/v1/tasks/{task_id}")
        assert response.status_code == 404, task_id
    assert agent_client.patch("/api/v1/tasks/task_0000000000000000", {}).status_code == 404


def test_task_project_must_exist_in_the_same_org(agent_client, org_b):
    other = client_for(org_b, key=make_agent_key(org_b))
    foreign_project = other.post("/api/v1/projects", {"name": "B's"}).json()["id"]
    for project_id in (foreign_project, "proj_0000000000000000"):
        response = agent_client.post("/api/v1/tasks", {"project_id": project_id, "title": "T"})
        assert response.status_code == 400
        assert "project_id" in response.json()
    assert agent_client.get("/api/v1/tasks").json()["count"] == 0
    assert other.get(f"/api/v1/projects/{foreign_project}").status_code == 200


def test_task_cannot_move_to_another_project(agent_client, project_id):
    task = new_task(agent_client, project_id)
    other_project = agent_client.post("/api/v1/projects", {"name": "Other"}).json()["id"]
    response = agent_client.patch(f"/api/v1/tasks/{task['id']}", {"project_id": other_project})
    assert response.status_code == 400
    assert "project_id" in response.json()
    same = agent_client.patch(f"/api/v1/tasks/{task['id']}", {"project_id": project_id})
    assert same.status_code == 200


def test_depends_on(agent_client, project_id):
    first = new_task(agent_client, project_id, title="first")
    second = new_task(agent_client, project_id, title="second", depends_on=[first["id"]])
    assert second["depends_on"] == [first["id"]]

    third = new_task(agent_client, project_id, depends_on=[first["id"], second["id"], first["id"]])
    assert third["depends_on"] == [first["id"], second["id"]]  # duplicates dropped, order kept

    url = f"/api/v1/tasks/{first['id']}"
    assert agent_client.patch(url, {"depends_on": [third["id"]]}).status_code == 200
    assert agent_client.patch(url, {"depends_on": []}).json()["depends_on"] == []


def test_depends_on_unknown_or_foreign_ids_is_400(agent_client, project_id, org_b):
    other_project = agent_client.post("/api/v1/projects", {"name": "Other"}).json()["id"]
    elsewhere = new_task(agent_client, other_project)
    other = client_for(org_b, key=make_agent_key(org_b))
    b_project = other.post("/api/v1/projects", {"name": "B"}).json()["id"]
    b_task = other.post("/api/v1/tasks", {"project_id": b_project, "title": "B"}).json()["id"]

    for depends_on in (["task_0000000000000000"], [elsewhere["id"]], [b_task]):
        response = agent_client.post(
            "/api/v1/tasks", {"project_id": project_id, "title": "T", "depends_on": depends_on}
        )
        assert response.status_code == 400, depends_on
        assert "depends_on" in response.json()
        assert depends_on[0] in response.json()["depends_on"][0]

    task = new_task(agent_client, project_id)
    response = agent_client.patch(
        f"/api/v1/tasks/{task['id']}", {"depends_on": ["task_0000000000000000"]}
    )
    assert response.status_code == 400
    assert agent_client.get(f"/api/v1/tasks/{task['id']}").json()["depends_on"] == []


def test_task_cannot_depend_on_itself(agent_client, project_id):
    task = new_task(agent_client, project_id)
    response = agent_client.patch(f"/api/v1/tasks/{task['id']}", {"depends_on": [task["id"]]})
    assert response.status_code == 400
    assert response.json() == {"depends_on": ["A task cannot depend on itself."]}


def test_completed_at_follows_status(agent_client, project_id):
    task = new_task(agent_client, project_id)
    url = f"/api/v1/tasks/{task['id']}"
    in_progress = agent_client.patch(url, {"status": "in_progress"}).json()
    assert in_progress["completed_at"] is None

    completed = agent_client.patch(url, {"status": "completed"}).json()
    assert completed["completed_at"] is not None
    assert completed["completed_at"] >= task["created_at"]
    # Another change while completed keeps the original completion time.
    retitled = agent_client.patch(url, {"title": "renamed", "status": "completed"}).json()
    assert retitled["completed_at"] == completed["completed_at"]

    reopened = agent_client.patch(url, {"status": "failed"}).json()
    assert reopened["completed_at"] is None
    assert agent_client.get(url).json()["completed_at"] is None

    born_done = new_task(agent_client, project_id, status="completed")
    assert born_done["completed_at"] is not None


def test_completed_at_is_read_only(agent_client, project_id):
    task = new_task(agent_client, project_id)
    response = agent_client.patch(
        f"/api/v1/tasks/{task['id']}", {"completed_at": "2000-01-01T00:00:00Z"}
    )
    assert response.status_code == 200
    assert response.json()["completed_at"] is None


def test_task_filters(agent_client, project_id):
    other_project = agent_client.post("/api/v1/projects", {"name": "Other"}).json()["id"]
    a = new_task(agent_client, project_id, title="a", assigned_to="coder")
    b = new_task(agent_client, project_id, title="b", assigned_to="tester", status="blocked")
    c = new_task(agent_client, other_project, title="c", assigned_to="coder", status="blocked")

    def titles(query: str) -> set[str]:
        response = agent_client.get(f"/api/v1/tasks?{query}")
        assert response.status_code == 200, response.content
        return {t["title"] for t in response.json()["results"]}

    assert titles(f"project_id={project_id}") == {a["title"], b["title"]}
    assert titles("status=blocked") == {b["title"], c["title"]}
    assert titles("assigned_to=coder") == {a["title"], c["title"]}
    assert titles(f"project_id={project_id}&status=blocked&assigned_to=tester") == {"b"}
    assert titles("project_id=proj_0000000000000000") == set()
    assert titles("assigned_to=nobody") == set()
    assert titles("") == {"a", "b", "c"}
    assert titles("status=") == {"a", "b", "c"}  # an empty filter is no filter


@pytest.mark.parametrize(
    "query", ["status=done", "status=Pending", "project_id=" + "p" * 40, "status=%00"]
)
def test_invalid_task_filters_are_400(agent_client, query):
    response = agent_client.get(f"/api/v1/tasks?{query}")
    assert response.status_code == 400, response.content
    assert response.json()


def test_null_bytes_in_task_filters_are_400(agent_client):
    for query in ("project_id=proj_%00", "assigned_to=a%00"):
        assert agent_client.get(f"/api/v1/tasks?{query}").status_code == 400, query


def test_task_pagination(agent_client, project_id):
    for index in range(30):
        new_task(agent_client, project_id, title=f"t{index}")
    first = agent_client.get("/api/v1/tasks").json()
    assert first["count"] == 30
    assert len(first["results"]) == 25
    assert len(agent_client.get("/api/v1/tasks?page=2").json()["results"]) == 5
    assert len(agent_client.get("/api/v1/tasks?page_size=7&page=5").json()["results"]) == 2


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"title": "T"}, "project_id"),
        ({"project_id": None, "title": "T"}, "project_id"),
        ({"project_id": 5, "title": "T"}, "project_id"),
        ({"project_id": ["proj_x"], "title": "T"}, "project_id"),
        ({"project_id": "proj_\x00", "title": "T"}, "project_id"),
        ({"project_id": "p" * 1000, "title": "T"}, "project_id"),
        ({"project_id": "PROJECT", "title": ""}, "title"),
        ({"project_id": "PROJECT"}, "title"),
        ({"project_id": "PROJECT", "title": 5}, "title"),
        ({"project_id": "PROJECT", "title": "x" * 501}, "title"),
        ({"project_id": "PROJECT", "title": "a\x00"}, "title"),
        ({"project_id": "PROJECT", "title": "T", "status": "done"}, "status"),
        ({"project_id": "PROJECT", "title": "T", "assigned_to": 5}, "assigned_to"),
        ({"project_id": "PROJECT", "title": "T", "assigned_to": "x" * 201}, "assigned_to"),
        ({"project_id": "PROJECT", "title": "T", "depends_on": "x"}, "depends_on"),
        ({"project_id": "PROJECT", "title": "T", "depends_on": "task_abc"}, "depends_on"),
        ({"project_id": "PROJECT", "title": "T", "depends_on": {"a": 1}}, "depends_on"),
        ({"project_id": "PROJECT", "title": "T", "depends_on": [5]}, "depends_on"),
        ({"project_id": "PROJECT", "title": "T", "depends_on": ["x"]}, "depends_on"),
        ({"project_id": "PROJECT", "title": "T", "depends_on": ["task_\x00"]}, "depends_on"),
        ({"project_id": "PROJECT", "title": "T", "depends_on": [None]}, "depends_on"),
        ({"project_id": "PROJECT", "title": "T", "depends_on": ["task_1"] * 501}, "depends_on"),
        ({"project_id": "PROJECT", "title": "T", "metadata": []}, "metadata"),
        ({"project_id": "PROJECT", "title": "T", "metadata": "text"}, "metadata"),
        ({"project_id": "PROJECT", "title": "T", "metadata": {"a": "\x00"}}, "metadata"),
    ],
)
def test_bad_task_input_is_400_with_field_errors(agent_client, project_id, payload, field):
    payload = {k: project_id if v == "PROJECT" else v for k, v in payload.items()}
    response = agent_client.post("/api/v1/tasks", payload)
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert agent_client.get("/api/v1/tasks").json()["count"] == 0


@pytest.mark.parametrize(
    "body",
    [
        "{",
        "[]",
        '[{"title": "T"}]',
        '{"project_id": "PROJECT", "title": "T", "metadata": {"x": NaN}}',
        '{"project_id": "PROJECT", "title": "T", "metadata": {"x": 1e400}}',
        '{"project_id": "PROJECT", "title": "T", "metadata": ' + "[" * 50_000 + "]" * 50_000 + "}",
    ],
    ids=lambda body: repr(body[:40]),
)
def test_malformed_task_bodies_are_400(agent_client, project_id, body):
    body = body.replace("PROJECT", project_id)
    response = agent_client.post("/api/v1/tasks", body, content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    assert agent_client.get("/api/v1/tasks").json()["count"] == 0


def test_task_body_over_one_mebibyte_is_413(agent_client, project_id):
    response = agent_client.post(
        "/api/v1/tasks",
        {"project_id": project_id, "title": "T", "metadata": {"blob": "x" * (2 * 1024 * 1024)}},
    )
    assert response.status_code == 413
    assert agent_client.get("/api/v1/tasks").json()["count"] == 0


def test_org_b_cannot_see_or_touch_org_a_tasks(agent_client, project_id, org_b):
    task = new_task(agent_client, project_id)
    other = client_for(org_b, key=make_agent_key(org_b))
    url = f"/api/v1/tasks/{task['id']}"
    assert other.get(url).status_code == 404
    assert other.patch(url, {"title": "stolen"}).status_code == 404
    assert other.delete(url).status_code == 404
    assert other.get("/api/v1/tasks").json()["count"] == 0
    assert other.get(f"/api/v1/tasks?project_id={project_id}").json()["count"] == 0
    assert agent_client.get(url).json()["title"] == "T"
