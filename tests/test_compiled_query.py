"""Querysets compiled once and run with new values (metaqore_site.compiled_query) answer what
the ORM answers, in every organization, and refuse shapes they cannot run safely."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from access.actors import Actor
from artifacts.conflicts import Declaration, parallel_creation
from artifacts.models import Artifact
from artifacts.services import artifact_declare, next_version
from compliance.models import AuditChainHead
from governance.models import GovernancePolicy
from metaqore_site.compiled_query import (
    CompiledQuery,
    UnsupportedQuery,
    compiles_by_pk,
    instance_from_row,
    row_by_pk,
)
from projects.models import Project
from projects.services import project_create
from tests.conftest import client_for, make_agent_key, use_org

pytestmark = pytest.mark.django_db

ALICE, BOB = Actor("agent", "alice"), Actor("agent", "bob")

LINE = CompiledQuery(
    lambda project_id, artifact_type: (
        Artifact.objects.filter(project_id=project_id, artifact_type=artifact_type)
        .order_by("version")
        .values("id", "version", "data", "created_at", "depends_on")
    )
)


def declare(project: Project, line: str, actor: Actor = ALICE, **fields) -> Artifact:
    return artifact_declare(actor=actor, project=project, artifact_type=line, data={}, **fields)


def test_rows_equal_the_querysets_values(org_a):
    project = project_create(actor=ALICE, name="compiled")
    for n in range(3):
        artifact_declare(
            actor=ALICE,
            project=project,
            artifact_type="plan",
            data={"n": n, "nested": [1, {"x": None}]},
            depends_on=[],
        )
    declare(project, "spec")
    expected = list(
        Artifact.objects.filter(project_id=project.id, artifact_type="plan")
        .order_by("version")
        .values("id", "version", "data", "created_at", "depends_on")
    )
    assert len(expected) == 3
    # JSON columns and time zone-aware datetimes go through the fields' own converters.
    assert LINE.all(project_id=project.id, artifact_type="plan") == expected
    assert LINE.all(project_id=project.id, artifact_type="nothing") == []


def test_one_compilation_serves_every_organization(org_a, org_b):
    use_org(org_a)
    in_a = project_create(actor=ALICE, name="a")
    declare(in_a, "plan")
    use_org(org_b)
    in_b = project_create(actor=ALICE, name="b")
    declare(in_b, "plan")
    declare(in_b, "plan")
    compiled = LINE.compiled()
    assert '"org_' not in compiled.sql  # no schema in the SQL: the search path picks the org
    assert [row["version"] for row in LINE.all(project_id=in_b.id, artifact_type="plan")] == [
        1,
        2,
    ]
    assert LINE.all(project_id=in_a.id, artifact_type="plan") == []  # a's row is not in b
    use_org(org_a)
    assert [row["version"] for row in LINE.all(project_id=in_a.id, artifact_type="plan")] == [1]
    assert LINE.compiled() is compiled


def test_a_call_sends_one_statement_and_values_stay_parameters(org_a):
    project = project_create(actor=ALICE, name="quoted")
    hostile = "plan'); DROP TABLE artifacts_artifact; --"
    declare(project, hostile)
    with CaptureQueriesContext(connection) as queries:
        rows = LINE.all(project_id=project.id, artifact_type=hostile)
    assert [row["version"] for row in rows] == [1]
    assert len(queries.captured_queries) == 1
    assert Artifact.objects.filter(project_id=project.id).count() == 1


def test_the_declarations_compiled_reads_match_the_orm(org_a):
    project = project_create(actor=ALICE, name="line")
    assert next_version(project.id, "plan") == 1
    declare(project, "plan", actor=ALICE)
    declare(project, "plan", actor=BOB)
    assert next_version(project.id, "plan") == 3
    # parallel creation: the other agent's latest live version of the line, or nothing.
    mine = Artifact(project=project, artifact_type="plan", created_by="agent:alice")
    (found,) = parallel_creation(Declaration(artifact=mine))
    latest_by_bob = Artifact.objects.get(project=project, artifact_type="plan", version=2)
    assert found.details["other_artifact_id"] == latest_by_bob.id
    assert found.details["other_state"] == "draft"
    # an update never finds itself: as carol's, bob's v2 would match but alice's v1 does
    itself = Artifact(
        pk=latest_by_bob.pk, project=project, artifact_type="plan", created_by="agent:carol"
    )
    (found,) = parallel_creation(Declaration(artifact=itself, is_update=True))
    assert found.details["other_version"] == 1
    theirs = Artifact(project=project, artifact_type="plan", created_by="agent:carol")
    assert parallel_creation(Declaration(artifact=theirs))[0].details["other_version"] == 2


def test_policy_load_equals_the_orms_row(org_a):
    loaded = GovernancePolicy.load()
    stored = GovernancePolicy.objects.get(pk=1)
    for field in GovernancePolicy._meta.concrete_fields:
        assert getattr(loaded, field.attname) == getattr(stored, field.attname), field.name
    assert loaded._state.adding is False and loaded._state.db == "default"
    assert instance_from_row(Project, {"id": "proj_x", "name": "n"}).name == "n"


def test_instances_equal_the_orms(org_a):
    project = project_create(actor=ALICE, name="instance", description="d")
    by_id = CompiledQuery(lambda pk: Project.objects.filter(pk=pk)[:1])
    found = by_id.first(pk=project.id)
    stored = Project.objects.get(pk=project.id)
    assert isinstance(found, Project)
    for field in Project._meta.concrete_fields:
        assert getattr(found, field.attname) == getattr(stored, field.attname), field.name
    assert found._state.adding is False and found._state.db == "default"
    assert by_id.first(pk="proj_missing") is None


def test_an_unknown_project_is_a_field_error(org_a):
    client = client_for(org_a, key=make_agent_key(org_a, "compiler"))
    answer = client.post(
        "/api/v1/artifacts", {"project_id": "proj_missing", "artifact_type": "p", "data": {}}
    )
    assert answer.status_code == 400
    assert "proj_missing" in answer.json()["project_id"][0]
    project = client.post("/api/v1/projects", {"name": "real"}).json()
    answer = client.post(
        "/api/v1/artifacts", {"project_id": project["id"], "artifact_type": "p", "data": {}}
    )
    assert answer.status_code == 201
    assert answer.json()["project_id"] == project["id"]


@pytest.mark.parametrize(
    "build",
    [
        lambda ids: Artifact.objects.filter(id__in=ids).values("id"),  # split into a list
        lambda text: Artifact.objects.filter(artifact_type__icontains=text).values("id"),
        # instances with columns of another table, or not all of their own
        lambda line: Artifact.objects.select_related("project").filter(artifact_type=line),
        lambda line: Artifact.objects.only("id").filter(artifact_type=line),
        lambda project_id: Artifact.objects.values("id"),  # the argument is never sent
    ],
    ids=["in-list", "rewritten", "joined", "deferred", "unused"],
)
def test_shapes_that_cannot_be_reused_are_refused(org_a, build):
    with pytest.raises(UnsupportedQuery):
        CompiledQuery(build).compiled()


def test_build_takes_named_arguments():
    with pytest.raises(UnsupportedQuery):
        CompiledQuery(lambda **line: Artifact.objects.filter(**line).values("id"))


def test_a_look_up_by_public_id_in_a_views_queryset_equals_the_orms(org_a):
    project = project_create(actor=ALICE, name="detail", description="d")
    ordered = Project.objects.order_by("-created_at", "-id")  # a view's queryset
    assert compiles_by_pk(ordered)
    found = row_by_pk(ordered, project.id)
    stored = Project.objects.get(pk=project.id)
    for field in Project._meta.concrete_fields:
        assert getattr(found, field.attname) == getattr(stored, field.attname), field.name
    assert row_by_pk(ordered, "proj_missing") is None


@pytest.mark.parametrize(
    "queryset",
    [
        lambda: Project.objects.filter(name="only this"),  # a filter would be dropped
        lambda: Project.objects.all()[:5],
        lambda: Artifact.objects.select_related("project"),
        lambda: Project.objects.prefetch_related("artifacts"),
        lambda: Project.objects.only("id"),
        lambda: Project.objects.values("id"),
        lambda: Project.objects.select_for_update(),
        lambda: Project.objects.distinct(),
        lambda: AuditChainHead.objects.all(),  # keyed by an integer, not a public id
    ],
    ids=[
        "filtered", "sliced", "joined", "prefetched", "deferred", "values", "locked",
        "distinct", "integer-key",
    ],
)  # fmt: skip
def test_a_look_up_by_pk_keeps_the_orm_for_any_other_queryset(org_a, queryset):
    assert not compiles_by_pk(queryset())
    with pytest.raises(UnsupportedQuery):
        row_by_pk(queryset(), "proj_x")


def test_a_detail_read_answers_as_before_in_one_statement(org_a):
    client = client_for(org_a, key=make_agent_key(org_a, "reader"))
    project = client.post("/api/v1/projects", {"name": "read me", "description": "d"}).json()
    with CaptureQueriesContext(connection) as queries:
        answer = client.get(f"/api/v1/projects/{project['id']}")
    assert answer.status_code == 200
    assert answer.json() == project
    assert sum('FROM "projects_project"' in q["sql"] for q in queries.captured_queries) == 1
    missing = client.get("/api/v1/projects/proj_missing")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Not found."})
