"""Real concurrency: trainers racing for jobs and agents racing to propose. Needs committed
data and real threads, so it runs in an org of its own that is dropped afterwards."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection, connections

from access.actors import SYSTEM, Actor
from hmcp.models import Specialist, TrainingJob
from hmcp.registry import skill_create
from hmcp.rules import Proposal
from hmcp.services import specialist_propose
from hmcp.training import training_job_claim, training_job_claim_next
from metaqore_site.errors import GovernanceBlocked
from projects.services import project_create
from tenants.services import organization_create

THREADS = 12


@pytest.fixture(scope="module")
def race_org(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        organization = organization_create(
            slug="hmcprace", name="HMCP race", domain="hmcp.localhost"
        )
        connection.set_tenant(organization)
        skill_create(
            actor=SYSTEM,
            skill_id="race-skill",
            max_specialist_size_mb=100,
            allowed_teachers=["teacher"],
        )
        connection.set_schema_to_public()
        yield organization
        connection.set_schema_to_public()
        organization.delete(force_drop=True)


def proposal(**overrides) -> Proposal:
    fields = {
        "skill_id": "race-skill",
        "teachers": ("teacher",),
        "requested_size_mb": 10,
        "parameter_count": 1_000_000,
        "confidence": 0.99,
        "task_isolation_passed": True,
    }
    fields.update(overrides)
    return Proposal(**fields)


def run_threads(organization, work: Callable[[int], object]) -> tuple[list, list]:
    """Run ``work(i)`` in THREADS threads released together; (results, errors)."""
    barrier = threading.Barrier(THREADS)
    results: list = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        try:
            connection.set_tenant(organization)
            barrier.wait(timeout=30)
            outcome = work(index)
            with lock:
                results.append(outcome)
        except BaseException as exc:  # reported to the test
            with lock:
                errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results, errors


def test_exactly_one_of_many_trainers_claims_a_job(race_org, django_db_blocker):
    with django_db_blocker.unblock():
        connection.set_tenant(race_org)
        project = project_create(actor=SYSTEM, name="claims")
        result = specialist_propose(
            actor=Actor("agent", "proposer"), project=project, proposal=proposal()
        )
        job_id = result.training_job.id

        def claim(index: int):
            return training_job_claim(job_id=job_id, actor=Actor("agent", f"trainer-{index}"))

        winners, errors = run_threads(race_org, claim)
        assert len(winners) == 1, winners
        assert len(errors) == THREADS - 1
        assert all(isinstance(e, GovernanceBlocked) and e.code == "job_taken" for e in errors)
        connection.set_tenant(race_org)
        stored = TrainingJob.objects.get(pk=job_id)
        assert (stored.status, stored.claimed_by, stored.attempts) == (
            "claimed",
            winners[0].claimed_by,
            1,
        )
        connection.set_schema_to_public()


def test_claim_next_never_hands_out_a_job_twice(race_org, django_db_blocker):
    with django_db_blocker.unblock():
        connection.set_tenant(race_org)
        project = project_create(actor=SYSTEM, name="queue")
        queued = set()
        for index in range(5):  # five lines: one level_1 per skill would conflict, so vary it
            skill_create(
                actor=SYSTEM,
                skill_id=f"queue-{index}",
                max_specialist_size_mb=100,
                allowed_teachers=["teacher"],
            )
            result = specialist_propose(
                actor=Actor("agent", "proposer"),
                project=project,
                proposal=proposal(skill_id=f"queue-{index}"),
            )
            queued.add(result.training_job.id)

        def claim_next(index: int):
            job = training_job_claim_next(actor=Actor("agent", f"trainer-{index}"))
            return job.id if job else None

        claimed, errors = run_threads(race_org, claim_next)
        assert not errors, errors
        got = [job_id for job_id in claimed if job_id is not None]
        assert sorted(got) == sorted(queued)  # every job once, none twice
        assert claimed.count(None) == THREADS - len(queued)
        connection.set_schema_to_public()


def test_concurrent_proposals_for_one_skill_and_level_all_but_one_conflict(
    race_org, django_db_blocker
):
    with django_db_blocker.unblock():
        connection.set_tenant(race_org)
        project = project_create(actor=SYSTEM, name="proposals")
        skill_create(
            actor=SYSTEM, skill_id="contested", max_specialist_size_mb=100, allowed_teachers=[]
        )

        def propose(index: int):
            result = specialist_propose(
                actor=Actor("agent", f"agent-{index}"),
                project=project,
                proposal=proposal(skill_id="contested", teachers=()),
            )
            return result.specialist.id

        created, errors = run_threads(race_org, propose)
        assert not errors, errors
        connection.set_tenant(race_org)
        lifecycles = list(
            Specialist.objects.filter(pk__in=created).values_list("lifecycle", flat=True)
        )
        assert sorted(lifecycles) == ["psmp_validating"] * (THREADS - 1) + ["training"]
        connection.set_schema_to_public()
