"""Discovery on a generated task history: grouping, normalization, windows, the command."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from access.actors import SYSTEM
from hmcp.discovery import normalize_title, specialists_discover
from hmcp.registry import skill_create
from metaqore_site.governed import governed_writes
from projects.models import Task
from tests.hmcp.conftest import clock

URL = "/api/v1/specialists/discoveries"


@pytest.mark.parametrize(
    ("title", "pattern"),
    [
        ("Clean column 7 of 'orders.csv'", "clean column <n> of <str>"),
        ('clean   column 12 of "users.csv"', "clean column <n> of <str>"),
        ("Clean column 3 of `x`", "clean column <n> of <str>"),
        ("Fix bug in 3f2504e0-4f89-11d3-9a0c-0305e82c3301", "fix bug in <uuid>"),
        ("Review task_3f9c0a1b2c3d4e5f now", "review <id> now"),
        ("Revert commit 9fceb02d0ae598e95dc970b74767f19372d61af8", "revert commit <id>"),
        ("Deploy at 10:30 with 2.5 GB", "deploy at <n> with <n> gb"),
        ("Rename col7 to col8", "rename col<n> to col<n>"),
        ("Don't drop the user's table", "don't drop the user's table"),
        ("Check deadbeef feed", "check deadbeef feed"),  # hex-looking words stay words
        ("  Tabs\tand\nnewlines  ", "tabs and newlines"),
        ("Summarize “quarterly report”", "summarize <str>"),
    ],
)
def test_normalize_title(title, pattern):
    assert normalize_title(title) == pattern


def test_long_titles_are_cut_to_200_characters():
    assert len(normalize_title("word " * 200)) == 200


def add_tasks(project, agent: str, titles: list[str]) -> None:
    # Test data only: bulk inserts skip the audit trail, which is not what is tested here (a
    # declared shortcut, in the test's transaction).
    with governed_writes("system:test"):
        Task.objects.bulk_create(Task(project=project, title=t, assigned_to=agent) for t in titles)


@pytest.fixture
def history(project):
    add_tasks(
        project,
        "data-agent",
        [f"Clean column {i} of 'table_{i % 7}.csv'" for i in range(80)],
    )
    add_tasks(
        project,
        "data-agent",
        [f"Deduplicate rows in task_{uuid.uuid4().hex[:16]}" for _ in range(30)],
    )
    add_tasks(project, "coder", [f"Fix bug #{i} in {uuid.uuid4()}" for i in range(75)])
    add_tasks(project, "other-agent", [f"Clean column {i} of 'a.csv'" for i in range(5)])
    add_tasks(project, "", [f"Clean column {i} of 'a.csv'" for i in range(100)])  # unassigned
    with clock(timedelta(days=-40)):
        add_tasks(project, "coder", [f"Write migration {i}" for i in range(100)])


def summary(body: dict) -> list[tuple[str, str, int]]:
    return [(r["agent"], r["pattern"], r["count"]) for r in body["results"]]


def test_discovery_groups_by_agent_and_pattern(agent, history):
    response = agent.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert summary(body) == [
        ("data-agent", "clean column <n> of <str>", 80),
        ("coder", "fix bug #<n> in <uuid>", 75),
    ]
    assert (body["min_repetitions"], body["days"]) == (70, 30)
    assert body["scanned_tasks"] == 190  # the window's assigned tasks
    assert body["truncated"] is False
    first = body["results"][0]
    assert len(first["examples"]) == 3 and len(set(first["examples"])) == 3
    assert all(example.startswith("Clean column") for example in first["examples"])
    assert first["existing_skill"] is None
    assert first["suggested_skill_id"] == "clean-column-of"
    assert first["first_seen"] <= first["last_seen"]


def test_thresholds_and_window_come_from_the_query(agent, history):
    body = agent.get(URL, {"min_repetitions": 20}).json()
    assert ("data-agent", "deduplicate rows in <id>", 30) in summary(body)
    wide = agent.get(URL, {"days": 60}).json()
    assert ("coder", "write migration <n>", 100) in summary(wide)
    assert agent.get(URL, {"min_repetitions": 1}).status_code == 400
    assert agent.get(URL, {"days": 0}).status_code == 400
    assert agent.get(URL, {"days": "x"}).status_code == 400


def test_existing_skill_is_the_one_listing_the_pattern(agent, history):
    skill_create(
        actor=SYSTEM,
        skill_id="data-cleaning",
        max_specialist_size_mb=500,
        task_patterns=["clean column <n> of <str>"],
    )
    body = agent.get(URL).json()
    assert [r["existing_skill"] for r in body["results"]] == ["data-cleaning", None]


def test_scans_are_bounded_and_say_so(history, django_assert_max_num_queries):
    with django_assert_max_num_queries(3):
        report = specialists_discover(min_repetitions=2, max_tasks=50)
    assert report.scanned_tasks == 50
    assert report.truncated is True


def test_the_command_says_the_same(history, org_a):
    out = StringIO()
    call_command("discover_specialists", "--org", "alpha", "--json", stdout=out)
    body = json.loads(out.getvalue())
    assert summary(body) == [
        ("data-agent", "clean column <n> of <str>", 80),
        ("coder", "fix bug #<n> in <uuid>", 75),
    ]
    out = StringIO()
    call_command("discover_specialists", "--org", "alpha", "--min-repetitions", "20", stdout=out)
    text = out.getvalue()
    assert "3 pattern(s) repeated at least 20 times in the last 30 days" in text
    assert (
        "     80  data-agent  'clean column <n> of <str>'  skill: none (suggested: clean-column-of)"
        in text
    )


def test_discovery_is_per_org(agent, history, org_b):
    from tests.conftest import client_for, make_agent_key

    other = client_for(org_b, key=make_agent_key(org_b, "spy"))
    assert other.get(URL).json()["results"] == []
