"""Each conflict check, through the API (what agents see) and the plain functions."""

import pytest

from artifacts.conflicts import normalize_path, specifiers_compatible
from tests.artifacts.conftest import declare


def conflict_types(response) -> list[str]:
    return [c["conflict_type"] for c in response.json()["governance"]["conflicts"]]


def test_version_mismatch_stores_under_next_free_version(coder, project):
    declare(coder, project)
    declare(coder, project)
    response = declare(coder, project, version=1)
    assert conflict_types(response) == ["version_mismatch"]
    assert response.json()["version"] == 3
    details = response.json()["governance"]["conflicts"][0]["details"]
    assert details == {"declared_version": 1, "expected_version": 3}


def test_parallel_creation_by_another_agent(coder, tester, project):
    first = declare(coder, project).json()
    response = declare(tester, project)
    assert response.status_code == 409
    (conflict,) = response.json()["governance"]["conflicts"]
    assert conflict["conflict_type"] == "parallel_creation"
    assert conflict["severity"] == "high" and conflict["suggested_strategy"] == "merge"
    assert conflict["details"]["other_artifact_id"] == first["id"]
    assert conflict["details"]["other_created_by"] == "agent:coder"
    assert first["id"] in conflict["hint"]


def test_same_agent_new_version_is_not_parallel(coder, project):
    declare(coder, project)
    assert declare(coder, project).status_code == 201


def test_archived_artifact_of_another_agent_is_not_parallel(coder, tester, project):
    first = declare(coder, project).json()
    coder.post(f"/api/v1/artifacts/{first['id']}/transition", {"to": "archived"})
    assert declare(tester, project).status_code == 201


def test_missing_dependency(coder, project):
    response = declare(coder, project, depends_on=["art_000000000000dead"])
    (conflict,) = response.json()["governance"]["conflicts"]
    assert conflict["conflict_type"] == "missing_dependency"
    assert conflict["severity"] == "high" and conflict["suggested_strategy"] == "retry"
    assert conflict["details"] == {"dependency_id": "art_000000000000dead"}


def test_stale_dependency_points_at_the_active_version(coder, project):
    old = declare(coder, project, artifact_type="spec").json()
    coder.post(f"/api/v1/artifacts/{old['id']}/transition", {"to": "active"})
    new = declare(coder, project, artifact_type="spec").json()
    coder.post(f"/api/v1/artifacts/{new['id']}/transition", {"to": "active"})  # archives old
    response = declare(coder, project, depends_on=[old["id"]])
    (conflict,) = response.json()["governance"]["conflicts"]
    assert conflict["conflict_type"] == "stale_dependency"
    assert conflict["severity"] == "low"
    assert (
        conflict["hint"]
        == f"depends on {old['id']} which is archived: depend on {new['id']} (active)"
    )


def test_circular_dependency_found_on_patch(coder, project):
    a = declare(coder, project, artifact_type="a").json()
    b = declare(coder, project, artifact_type="b", depends_on=[a["id"]]).json()
    c = declare(coder, project, artifact_type="c", depends_on=[b["id"]]).json()
    response = coder.patch(f"/api/v1/artifacts/{a['id']}", {"depends_on": [c["id"]]})
    # Blocked is 409 on every declaration path, with the same body shape as POST's 409.
    assert response.status_code == 409
    body = response.json()
    assert conflict_types(response) == ["circular_dependency"]
    assert body["governance"]["conflicts"][0]["severity"] == "critical"
    assert body["governance"]["outcome"] == "blocked" and body["is_blocked"] is True
    blocked_post = declare(coder, project, artifact_type="d", depends_on=["art_0000000000000000"])
    assert blocked_post.status_code == 409
    assert set(body) == set(blocked_post.json())
    assert set(body["governance"]) == set(blocked_post.json()["governance"])


def test_patch_that_stays_clean_is_200(coder, project):
    a = declare(coder, project, artifact_type="a").json()
    b = declare(coder, project, artifact_type="b").json()
    response = coder.patch(f"/api/v1/artifacts/{b['id']}", {"depends_on": [a["id"]]})
    assert response.status_code == 200
    body = response.json()
    assert body["governance"]["outcome"] == "accepted" and body["is_blocked"] is False
    assert body["depends_on"] == [a["id"]]


def test_self_dependency_is_circular(coder, project):
    a = declare(coder, project).json()
    response = coder.patch(f"/api/v1/artifacts/{a['id']}", {"depends_on": [a["id"]]})
    assert "circular_dependency" in conflict_types(response)


def test_file_path_collision_normalizes_paths(coder, tester, project):
    first = declare(coder, project, artifact_type="code", file_paths=["src/app.py"]).json()
    response = declare(tester, project, artifact_type="test", file_paths=["./src/x/../app.py"])
    (conflict,) = response.json()["governance"]["conflicts"]
    assert conflict["conflict_type"] == "file_path_collision"
    assert conflict["details"] == {"other_artifact_id": first["id"], "paths": ["src/app.py"]}


def test_same_line_same_agent_may_rewrite_its_paths(coder, project):
    declare(coder, project, file_paths=["src/app.py"])
    assert declare(coder, project, file_paths=["src/app.py"]).status_code == 201


def test_dependency_version_conflict(coder, project):
    other = declare(coder, project, artifact_type="api", requirements={"Django": "<5"}).json()
    response = declare(coder, project, artifact_type="web", requirements={"django": ">=5.2"})
    (conflict,) = response.json()["governance"]["conflicts"]
    assert conflict["conflict_type"] == "dependency_version_conflict"
    assert conflict["severity"] == "high" and conflict["suggested_strategy"] == "escalate"
    assert conflict["hint"] == f"django: '>=5.2' here vs '<5' in {other['id']}"


def test_compatible_requirements_do_not_conflict(coder, project):
    declare(coder, project, artifact_type="api", requirements={"django": ">=4.2"})
    response = declare(coder, project, artifact_type="web", requirements={"django": ">=5.2,<6"})
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("first", "second", "compatible"),
    [
        (">=5.2", "<5", False),
        (">=5.2,<6", ">=4.2", True),
        ("==1.4.*", "~=1.4.2", True),
        ("==1.4.*", ">=1.5", False),
        (">1.0", "<1.0.1", True),
        ("==2.0", "!=2.0", False),
        ("~=2.1", "<2.1", False),
        ("<3", ">2.9", True),
    ],
)
def test_specifier_compatibility(first, second, compatible):
    assert specifiers_compatible(first, second) is compatible


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("./a/../b/c.py", "b/c.py"), ("src//x.py", "src/x.py"), ("a\\b.py", "a/b.py")],
)
def test_normalize_path(raw, expected):
    assert normalize_path(raw) == expected


@pytest.mark.parametrize("raw", ["/abs.py", "../up.py", "a/../../up.py", ".", "C:\\x.py"])
def test_normalize_path_refuses_escapes(raw):
    with pytest.raises(ValueError):
        normalize_path(raw)
