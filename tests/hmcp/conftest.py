"""Fixtures for HMCP: a registered skill, a project, clients for each kind of caller, and
helpers to propose, train and read the audit trail."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from access.actors import SYSTEM, Actor
from compliance.models import AuditEvent
from hmcp.registry import skill_create
from projects.services import project_create
from tests.conftest import client_for, make_agent_key

GOOD_METRICS = {
    "functional_unit_test": 0.97,
    "catastrophic_forgetting_drop": 0.004,
    "adversarial_robustness": True,
    "psmp_compatibility": True,
    "golden_set_score": 0.95,
}


@pytest.fixture
def project(org_a):
    return project_create(actor=Actor("agent", "data-agent"), name="Pipelines")


@pytest.fixture
def skill(org_a):
    return skill_create(
        actor=SYSTEM,
        skill_id="data-cleaning",
        description="Cleaning tabular data",
        parent_agent="data-agent",
        max_specialist_size_mb=500,
        allowed_teachers=["gpt-4o", "llama-3-70b"],
    )


@pytest.fixture
def agent(org_a):
    """The agent that proposes specialists."""
    return client_for(org_a, key=make_agent_key(org_a, "data-agent"))


@pytest.fixture
def trainer(org_a):
    return client_for(org_a, key=make_agent_key(org_a, "trainer-1"))


@pytest.fixture
def trainer2(org_a):
    return client_for(org_a, key=make_agent_key(org_a, "trainer-2"))


def proposal(project, **overrides) -> dict:
    body = {
        "skill_id": "data-cleaning",
        "project_id": project.id,
        "teachers": ["gpt-4o"],
        "requested_size_mb": 120,
        "parameter_count": 150_000_000,
        "confidence": 0.95,
        "task_isolation_passed": True,
        "parent_level_identifier": None,
        "data": {"base_model": "phi-3-mini"},
    }
    body.update(overrides)
    return body


def propose(client, project, **overrides):
    return client.post("/api/v1/specialists/", proposal(project, **overrides))


def train(trainer, job_id: str, metrics: dict | None = None):
    """Claim a job and complete it with ``metrics`` (GOOD_METRICS by default)."""
    claim = trainer.post(f"/api/v1/specialists/training-jobs/{job_id}/claim")
    assert claim.status_code == 200, claim.json()
    return trainer.post(
        f"/api/v1/specialists/training-jobs/{job_id}/complete",
        {"metrics": GOOD_METRICS if metrics is None else metrics},
    )


def activate(agent, trainer, project, **overrides) -> dict:
    """Propose, train and pass the gate: the active specialist's JSON."""
    created = propose(agent, project, **overrides)
    assert created.status_code == 201, created.json()
    done = train(trainer, created.json()["training_job"]["id"])
    assert done.status_code == 200, done.json()
    assert done.json()["specialist"]["lifecycle"] == "active"
    return done.json()["specialist"]


def last_seq() -> int:
    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def events_after(seq: int) -> list[tuple[str, str]]:
    return list(
        AuditEvent.objects.filter(seq__gt=seq).order_by("seq").values_list("event_type", "actor")
    )


def event_types_after(seq: int) -> list[str]:
    return [event_type for event_type, _actor in events_after(seq)]


@contextmanager
def clock(delta: timedelta):
    """Move Django's clock (timezone.now) by ``delta`` inside the block."""
    real = timezone.now
    with mock.patch("django.utils.timezone.now", lambda: real() + delta):
        yield
