"""Invariant 4: concurrent declarations into one line get gap-free versions and every
parallel_creation conflict. Needs committed data and real threads, so it runs in an org of
its own that is dropped afterwards (audit events cannot be deleted, only their schema)."""

import threading

import pytest
from django.db import connection, connections

from access.actors import Actor
from artifacts.models import Artifact
from artifacts.services import artifact_declare
from projects.services import project_create
from tests.events.live import committed_organization

THREADS = 20


@pytest.fixture(scope="module")
def race_org(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), committed_organization("race") as organization:
        yield organization


def test_twenty_threads_declare_into_one_line(race_org, django_db_blocker):
    with django_db_blocker.unblock():
        connection.set_tenant(race_org)
        project = project_create(actor=Actor("agent", "setup"), name="race")
        barrier = threading.Barrier(THREADS)
        errors: list[BaseException] = []

        def declare(index: int) -> None:
            try:
                connection.set_tenant(race_org)
                barrier.wait(timeout=30)
                agent = Actor("agent", "alpha" if index % 2 else "beta")
                artifact_declare(
                    actor=agent, project=project, artifact_type="code", data={"i": index}
                )
            except BaseException as exc:  # reported below
                errors.append(exc)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=declare, args=(i,)) for i in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors, errors

        connection.set_tenant(race_org)
        artifacts = list(
            Artifact.objects.filter(project=project)
            .order_by("version")
            .prefetch_related("conflicts")
        )
        assert [a.version for a in artifacts] == list(range(1, THREADS + 1))
        authors_before: set[str] = set()
        for artifact in artifacts:
            types = [c.conflict_type for c in artifact.conflicts.all()]
            other_author_came_first = bool(authors_before - {artifact.created_by})
            assert ("parallel_creation" in types) is other_author_came_first, artifact.version
            authors_before.add(artifact.created_by)
        connection.set_schema_to_public()
