"""Detail reads rendered by the thread's serializer (metaqore_site.api.viewsets
RenderedRetrieveMixin) answer exactly what a new DRF serializer would, context included."""

from __future__ import annotations

import threading

import pytest

from metaqore_site.api.serializers import render
from projects.api.serializers import ProjectSerializer, TaskSerializer
from projects.models import Project, Task
from tests.conftest import client_for, make_agent_key

pytestmark = pytest.mark.django_db


def test_a_detail_read_answers_what_drf_would(org_a):
    client = client_for(org_a, key=make_agent_key(org_a, "renderer"))
    project = client.post("/api/v1/projects", {"name": "p", "metadata": {"k": [1, 2]}}).json()
    task = client.post("/api/v1/tasks", {"project_id": project["id"], "title": "t"}).json()
    for path, serializer, model, public_id in (
        ("projects", ProjectSerializer, Project, project["id"]),
        ("tasks", TaskSerializer, Task, task["id"]),
    ):
        answer = client.get(f"/api/v1/{path}/{public_id}")
        assert answer.status_code == 200
        instance = model.objects.get(id=public_id)
        assert answer.json() == serializer(instance).data


def test_each_call_renders_with_its_own_context():
    class Echo(ProjectSerializer):
        def to_representation(self, instance):
            return {"name": instance.name, "seen": self.context.get("who")}

    results: dict[str, dict] = {}

    def worker(who: str) -> None:
        for _ in range(200):
            results[who] = render(Echo, Project(name=who), {"who": who})
            assert results[who] == {"name": who, "seen": who}

    threads = [threading.Thread(target=worker, args=(f"t{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert render(Echo, Project(name="x")) == {"name": "x", "seen": None}
