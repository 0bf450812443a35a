import pytest

from tests.conftest import client_for, make_agent_key


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
