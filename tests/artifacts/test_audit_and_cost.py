"""Every governed change writes its audit events in the same transaction; a declaration's
cost (its query count) does not grow with the size of the project."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from access.actors import Actor
from artifacts.models import Artifact
from artifacts.services import artifact_declare, artifact_transition
from compliance.models import AuditEvent
from governance.resolution import conflict_resolve
from projects.services import project_create
from tests.artifacts.conftest import declare

CODER = Actor("agent", "coder")
OFFICER = Actor("user", "olivia", roles=frozenset({"compliance_officer"}))


def events_after(seq: int) -> list[str]:
    return list(
        AuditEvent.objects.filter(seq__gt=seq).order_by("seq").values_list("event_type", flat=True)
    )


def head() -> int:
    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def test_declaration_events(project):
    start = head()
    result = artifact_declare(actor=CODER, project=project, artifact_type="code", data={})
    assert events_after(start) == ["artifact.declared"]
    event = AuditEvent.objects.get(seq=start + 1)
    assert (event.actor, event.agent_name, event.resource_id) == (
        "agent:coder",
        "coder",
        result.artifact.id,
    )
    assert event.project_id == project.id
    assert event.payload["outcome"] == "accepted"

    start = head()
    tester = Actor("agent", "tester")
    artifact_declare(actor=tester, project=project, artifact_type="code", data={})
    assert events_after(start) == ["artifact.declared", "conflict.detected"]


def test_auto_resolution_and_human_resolution_events(project):
    privileged = Actor("agent", "studio", is_privileged=True)
    artifact_declare(actor=privileged, project=project, artifact_type="code", data={})
    start = head()
    artifact_declare(actor=privileged, project=project, artifact_type="code", data={}, version=1)
    assert events_after(start) == ["artifact.declared", "conflict.detected", "conflict.resolved"]

    blocked = artifact_declare(actor=CODER, project=project, artifact_type="code", data={})
    start = head()
    conflict_resolve(conflict=blocked.conflicts[0], actor=OFFICER, strategy="override")
    assert events_after(start) == ["conflict.resolved", "artifact.unblocked"]
    start = head()
    artifact_transition(artifact=blocked.artifact, actor=OFFICER, to="active")
    assert events_after(start) == ["artifact.transitioned"]


def test_superseding_writes_two_transitions(project):
    first = artifact_declare(actor=CODER, project=project, artifact_type="plan", data={})
    artifact_transition(artifact=first.artifact, actor=CODER, to="active")
    second = artifact_declare(actor=CODER, project=project, artifact_type="plan", data={})
    start = head()
    artifact_transition(artifact=second.artifact, actor=CODER, to="active", reason="ship")
    transitions = AuditEvent.objects.filter(seq__gt=start).order_by("seq")
    assert [(e.resource_id, e.payload["to"]) for e in transitions] == [
        (first.artifact.id, "archived"),
        (second.artifact.id, "active"),
    ]


def test_rolled_back_declaration_leaves_no_artifact_and_no_event(project):
    start = head()
    with pytest.raises(RuntimeError), transaction.atomic():
        artifact_declare(actor=CODER, project=project, artifact_type="code", data={})
        raise RuntimeError("the caller fails after the declaration")
    assert events_after(start) == []
    assert not Artifact.objects.filter(project=project).exists()


def test_api_declaration_records_request_id(coder, project):
    start = head()
    response = declare(coder, project, HTTP_X_REQUEST_ID="req-declare-1")
    assert response.status_code == 201
    assert AuditEvent.objects.get(seq=start + 1).request_id == "req-declare-1"


def _declare_queries(project, artifact_type: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        artifact_declare(
            actor=CODER,
            project=project,
            artifact_type=artifact_type,
            data={"x": 1},
            file_paths=["src/new.py"],
            requirements={"django": ">=5.2"},
        )
    return len(queries)


def test_declaration_query_count_does_not_grow_with_project_size(org_a):
    empty = project_create(actor=CODER, name="empty")
    full = project_create(actor=CODER, name="full")
    for index in range(150):
        artifact_declare(
            actor=Actor("agent", f"agent{index % 7}"),
            project=full,
            artifact_type=f"line{index % 15}",
            data={"i": index},
            file_paths=[f"src/file{index}.py"],
            requirements={"django": ">=4.2", f"pkg{index}": ">=1"},
        )
    assert _declare_queries(empty, "code") == _declare_queries(full, "code")
