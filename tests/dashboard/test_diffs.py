"""The conflict page's content diff: data key by key, file paths, requirements."""

from __future__ import annotations

from django.test import Client

from access.actors import Actor
from access.roles import COMPLIANCE_OFFICER
from artifacts.models import Artifact
from artifacts.services import artifact_declare
from dashboard.diffs import MAX_ROWS, content_diff
from projects.services import project_create
from tests.conftest import make_user


def rows(section) -> dict[str, tuple[str, str, str]]:
    return {row.key: (row.status, row.left, row.right) for row in section.rows}


def test_content_diff_marks_changed_keys_and_one_sided_values():
    left = Artifact(
        data={"module": "cart.py", "opts": {"retries": 3, "lang": "py"}, "only_left": 1},
        file_paths=["src/cart.py", "src/left.py"],
        requirements={"django": "<5", "requests": ">=2"},
    )
    right = Artifact(
        data={"module": "cart.py", "opts": {"retries": 5, "lang": "py"}},
        file_paths=["src/cart.py"],
        requirements={"django": ">=5.2,<6", "celery": "5"},
    )
    data, paths, requirements = content_diff(left, right)
    assert rows(data) == {
        "module": ("same", "cart.py", "cart.py"),
        "opts.lang": ("same", "py", "py"),
        "opts.retries": ("changed", "3", "5"),
        "only_left": ("left", "1", ""),
    }
    assert data.changed == 2 and [row.status for row in data.rows][:2] != ["same", "same"]
    assert rows(paths) == {
        "src/cart.py": ("same", "declared", "declared"),
        "src/left.py": ("left", "declared", ""),
    }
    assert rows(requirements) == {
        "celery": ("right", "", "5"),
        "django": ("changed", "<5", ">=5.2,<6"),
        "requests": ("left", ">=2", ""),
    }


def test_a_long_diff_keeps_every_difference_above_the_cut():
    same = {f"k{i:04}": i for i in range(MAX_ROWS + 50)}
    left = Artifact(data={**same, "zz": 1}, file_paths=[], requirements={})
    right = Artifact(data={**same, "zz": 2}, file_paths=[], requirements={})
    data = content_diff(left, right)[0]
    assert data.rows[0].key == "zz" and data.rows[0].status == "changed"
    assert len(data.rows) == MAX_ROWS and data.hidden == 51


def test_the_conflict_page_shows_the_diff(org_a):
    coder, tester = Actor("agent", "coder"), Actor("agent", "tester")
    project = project_create(actor=coder, name="Checkout")
    artifact_declare(
        actor=coder,
        project=project,
        artifact_type="code",
        data={"module": "cart.py"},
        file_paths=["src/cart.py"],
        requirements={"django": ">=5.2,<6"},
    )
    blocked = artifact_declare(
        actor=tester,
        project=project,
        artifact_type="test",
        data={"suite": "cart"},
        file_paths=["./src/cart.py"],
        requirements={"django": "<5"},
    )
    conflict = next(
        c for c in blocked.conflicts if c.conflict_type == "dependency_version_conflict"
    )
    client = Client(HTTP_HOST="alpha.localhost")
    client.force_login(make_user(org_a, "otto", COMPLIANCE_OFFICER))
    page = client.get(f"/dashboard/conflicts/{conflict.id}/").content.decode()
    assert 'id="content-diff"' in page
    assert '<tr class="diff-changed" data-key="django">' in page
    assert '<tr class="diff-left" data-key="suite">' in page
    assert '<tr class="diff-right" data-key="module">' in page
    assert '<tr class="diff-same" data-key="src/cart.py">' in page
