"""The HMCP API: skills, evaluate, refusals (422), lists and filters, the hierarchy policy,
each caller's rights, and the exact audit trail of a whole journey."""

from __future__ import annotations

import pytest

from compliance.models import AuditEvent
from hmcp.models import HierarchyPolicy, Skill, Specialist
from tests.conftest import client_for, make_agent_key
from tests.hmcp.conftest import (
    GOOD_METRICS,
    activate,
    event_types_after,
    events_after,
    last_seq,
    proposal,
    propose,
    train,
)

SKILLS = "/api/v1/specialists/skills"
SKILL_BODY = {
    "skill_id": "sql-tuning",
    "description": "Index and query tuning",
    "parent_agent": "db-agent",
    "max_specialist_size_mb": 250,
    "allowed_teachers": ["gpt-4o"],
    "task_patterns": ["tune query <id>"],
}


# --- skills -----------------------------------------------------------------------------------


def test_org_admin_manages_skills_and_each_write_is_audited(org_admin, org_a):
    start = last_seq()
    created = org_admin.post(SKILLS, SKILL_BODY)
    assert created.status_code == 201, created.json()
    assert created.json()["created_by"] == "user:adam"
    changed = org_admin.patch(f"{SKILLS}/sql-tuning", {"max_specialist_size_mb": 300})
    assert changed.status_code == 200
    assert changed.json()["max_specialist_size_mb"] == 300
    same = org_admin.patch(f"{SKILLS}/sql-tuning/", {"max_specialist_size_mb": 300})
    assert same.status_code == 200  # no change, no event
    assert org_admin.delete(f"{SKILLS}/sql-tuning").status_code == 204
    assert events_after(start) == [
        ("skill.created", "user:adam"),
        ("skill.updated", "user:adam"),
        ("skill.deleted", "user:adam"),
    ]
    updated = AuditEvent.objects.get(seq__gt=start, event_type="skill.updated")
    assert updated.payload == {
        "before": {"max_specialist_size_mb": 250.0},
        "after": {"max_specialist_size_mb": 300},
    }


def test_skill_validation(org_admin, skill):
    for body in (
        {**SKILL_BODY, "skill_id": "Not A Slug"},
        {**SKILL_BODY, "skill_id": "data-cleaning"},  # taken
        {**SKILL_BODY, "max_specialist_size_mb": 0},
        {**SKILL_BODY, "allowed_teachers": "gpt-4o"},
        {**SKILL_BODY, "allowed_teachers": [""]},
        {**SKILL_BODY, "task_patterns": [1]},
    ):
        assert org_admin.post(SKILLS, body).status_code == 400, body
    assert org_admin.patch(f"{SKILLS}/data-cleaning", {"skill_id": "x"}).json()["skill_id"] == (
        "data-cleaning"
    )  # identity is read-only


def test_a_skill_in_use_cannot_be_deleted(org_admin, agent, project, skill):
    propose(agent, project)
    response = org_admin.delete(f"{SKILLS}/data-cleaning")
    assert response.status_code == 409
    assert response.json()["code"] == "skill_in_use"
    assert Skill.objects.filter(skill_id="data-cleaning").exists()


def test_registry_only_unknown_skill_is_refused_422_and_audited(agent, project):
    start = last_seq()
    response = propose(agent, project, skill_id="juggling", teachers=["anyone"])
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "proposal_refused"
    assert body["reasons"] == [
        {
            "code": "unknown_skill",
            "message": "Skill 'juggling' is not in the skill registry (registry_only): an "
            "org_admin must register it first.",
        }
    ]
    assert not Specialist.objects.exists()
    assert events_after(start) == [("specialist.refused", "agent:data-agent")]
    event = AuditEvent.objects.get(seq__gt=start)
    assert event.payload["reasons"][0]["code"] == "unknown_skill"
    assert event.payload["proposal"]["skill_id"] == "juggling"


def test_refusal_lists_every_reason(agent, project, skill):
    response = propose(
        agent,
        project,
        teachers=["rogue"],
        requested_size_mb=999,
        parent_level_identifier="level_1",
        parameter_count=50_000_000,
        confidence=0.2,
        task_isolation_passed=False,
    )
    assert response.status_code == 422
    assert response.json()["detail"] == "Proposal refused: 5 rule(s) failed."
    assert [r["code"] for r in response.json()["reasons"]] == [
        "teacher_not_allowed",
        "size_over_skill_budget",
        "size_over_level_budget",
        "confidence_below_threshold",
        "task_not_isolated",
    ]


# --- evaluate ---------------------------------------------------------------------------------


def test_evaluate_answers_without_side_effects(viewer, project, skill):
    start = last_seq()
    response = viewer.post(
        "/api/v1/specialists/evaluate",
        proposal(project, parent_level_identifier="level_1", parameter_count=12_000_000),
    )
    assert response.status_code == 200
    body = response.json()
    assert body["allowed"] is False
    assert [r["code"] for r in body["reasons"]] == ["size_over_level_budget"]
    assert body["skill"]["skill_id"] == "data-cleaning"
    assert body["target_level"] == {
        "identifier": "level_2",
        "number": 2,
        "name": "micro_specialist",
        "max_size": "10M_params",
        "max_parameters": 10_000_000,
        "can_spawn": False,
    }
    assert body["spawn_decision"]["required"] is True
    assert body["spawn_decision"]["allowed"] is True
    assert last_seq() == start
    assert not Specialist.objects.exists()


def test_evaluate_an_allowed_proposal(agent, project, skill):
    body = agent.post("/api/v1/specialists/evaluate/", proposal(project)).json()
    assert (body["allowed"], body["reasons"]) == (True, [])
    assert body["target_level"]["identifier"] == "level_1"


def test_a_teacher_may_be_an_active_specialist(agent, trainer, project, skill):
    teacher = activate(agent, trainer, project)
    body = agent.post(
        "/api/v1/specialists/evaluate",
        proposal(
            project,
            teachers=["specialist:data-cleaning"],
            parent_level_identifier="level_1",
            parameter_count=1,
        ),
    ).json()
    assert body["allowed"] is True, body
    agent.post(f"/api/v1/specialists/{teacher['id']}/transition", {"to": "deprecated"})
    body = agent.post(
        "/api/v1/specialists/evaluate",
        proposal(
            project,
            teachers=["specialist:data-cleaning"],
            parent_level_identifier="level_1",
            parameter_count=1,
        ),
    ).json()
    assert [r["code"] for r in body["reasons"]] == ["teacher_not_active_specialist"]


def test_a_child_of_a_named_parent_specialist(agent, trainer, project, skill):
    parent = activate(agent, trainer, project)
    child = propose(
        agent, project, parent_specialist_id=parent["id"], parameter_count=2_000_000
    ).json()
    assert (child["level"], child["parent_specialist_id"]) == ("level_2", parent["id"])


# --- lists, filters, details ------------------------------------------------------------------


def test_list_filter_and_detail(agent, trainer, project, skill, django_assert_max_num_queries):
    active = activate(agent, trainer, project)
    child = propose(agent, project, parent_level_identifier="level_1", parameter_count=1).json()
    listed = agent.get("/api/v1/specialists")
    assert listed.status_code == 200
    assert listed.json()["count"] == 2
    assert [
        s["id"] for s in agent.get("/api/v1/specialists?lifecycle=active").json()["results"]
    ] == [active["id"]]
    assert [s["id"] for s in agent.get("/api/v1/specialists/?level=level_2").json()["results"]] == [
        child["id"]
    ]
    assert agent.get("/api/v1/specialists?skill=data-cleaning").json()["count"] == 2
    assert agent.get("/api/v1/specialists?skill=other").json()["count"] == 0
    assert agent.get("/api/v1/specialists?lifecycle=bogus").status_code == 400
    detail = agent.get(f"/api/v1/specialists/{active['id']}").json()
    assert detail["lifecycle"] == "active" and detail["artifact_id"] == active["artifact_id"]
    assert agent.get("/api/v1/specialists/spec_0000000000000000").status_code == 404
    # pinned: the request's own five (tenant, search paths, key, policy mode) + count + page
    with django_assert_max_num_queries(7):
        agent.get("/api/v1/specialists?page_size=50")


def test_training_job_list_query_count_is_pinned(
    agent, trainer, project, skill, django_assert_max_num_queries
):
    propose(agent, project)
    propose(agent, project, parent_level_identifier="level_1", parameter_count=1)
    trainer.get("/api/v1/specialists/training-jobs")  # the key's first use stamps last_used_at
    # the request's own five + the lease re-queue probe + count + page (specialist, skill joined)
    with django_assert_max_num_queries(8):
        body = trainer.get("/api/v1/specialists/training-jobs").json()
    assert body["count"] == 2


def test_other_orgs_cannot_see_specialists(agent, project, skill, org_b):
    specialist = propose(agent, project).json()
    other = client_for(org_b, key=make_agent_key(org_b, "spy"))
    assert other.get(f"/api/v1/specialists/{specialist['id']}").status_code == 404
    assert other.get("/api/v1/specialists").json()["count"] == 0
    job = specialist["training_job"]["id"]
    assert other.post(f"/api/v1/specialists/training-jobs/{job}/claim").status_code == 404


# --- hierarchy policy -------------------------------------------------------------------------


def test_hierarchy_policy_read_and_change(org_admin, viewer, agent, project, skill):
    body = viewer.get("/api/v1/specialists/policy").json()
    assert body["chaining_depth"] == 2
    assert body["levels"]["level_2"]["max_size"] == "10M_params"
    assert body["spawn_min_confidence"] == 0.93
    start = last_seq()
    response = org_admin.patch("/api/v1/specialists/policy", {"spawn_min_confidence": 0.5})
    assert response.status_code == 200
    assert (response.json()["revision"], response.json()["updated_by"]) == (2, "user:adam")
    assert events_after(start) == [("hierarchy_policy.changed", "user:adam")]
    child = propose(
        agent, project, parent_level_identifier="level_1", parameter_count=1, confidence=0.6
    )
    assert child.status_code == 201


def test_hierarchy_policy_validation(org_admin):
    bad = [
        {"levels": {"level_1": {"name": "x", "max_size": "huge"}}},
        {"levels": {"level_2": {"name": "x", "max_size": "1M"}}},
        {"levels": []},
        {"spawn_min_confidence": 1.5},
        {"chaining_depth": 0},
        {"lease_minutes": 0},
    ]
    for body in bad:
        assert org_admin.patch("/api/v1/specialists/policy", body).status_code == 400, body
    assert HierarchyPolicy.load().revision == 1


def test_every_org_starts_with_the_defaults(org_b):
    from tests.conftest import use_org

    use_org(org_b)
    policy = HierarchyPolicy.load()
    assert (policy.chaining_depth, policy.gate_functional_unit_test_min) == (2, 0.96)


# --- who may do what --------------------------------------------------------------------------

ROLES = ("agent", "privileged", "viewer", "auditor", "officer", "admin", "anon")


def caller(org_a, role: str):
    """A client for one kind of caller (built on demand: users and keys cost time)."""
    from access.roles import AUDITOR, COMPLIANCE_OFFICER, ORG_ADMIN, VIEWER
    from tests.conftest import make_user, user_token

    users = {
        "viewer": VIEWER,
        "auditor": AUDITOR,
        "officer": COMPLIANCE_OFFICER,
        "admin": ORG_ADMIN,
    }
    if role in users:
        user = make_user(org_a, f"matrix-{role}", users[role])
        return client_for(org_a, token=user_token(org_a, user))
    if role == "anon":
        return client_for(org_a)
    return client_for(org_a, key=make_agent_key(org_a, role, privileged=role == "privileged"))


def row(*codes):
    return dict(zip(ROLES, codes, strict=True))


READ = row(200, 200, 200, 200, 200, 200, 401)
MATRIX = [
    ("get", "/api/v1/specialists", None, READ),
    ("get", "/api/v1/specialists/{spec}", None, READ),
    ("get", "/api/v1/specialists/skills", None, READ),
    ("get", "/api/v1/specialists/training-jobs", None, READ),
    ("get", "/api/v1/specialists/discoveries", None, READ),
    ("get", "/api/v1/specialists/policy", None, READ),
    ("post", "/api/v1/specialists/evaluate", "proposal", READ),
    ("post", "/api/v1/specialists", "child", row(201, 201, 403, 403, 201, 201, 401)),
    (
        "post",
        "/api/v1/specialists/skills",
        {"skill_id": "new-skill", "max_specialist_size_mb": 1},
        row(403, 403, 403, 403, 403, 201, 401),
    ),
    (
        "patch",
        "/api/v1/specialists/skills/data-cleaning",
        {"description": "d"},
        row(403, 403, 403, 403, 403, 200, 401),
    ),
    (
        "patch",
        "/api/v1/specialists/policy",
        {"lease_minutes": 10},
        row(403, 403, 403, 403, 403, 200, 401),
    ),
    (
        "post",
        "/api/v1/specialists/{spec}/observations",
        {"invocations": 1},
        row(409, 409, 403, 403, 409, 409, 401),  # allowed, but it is still training
    ),
    (
        "post",
        "/api/v1/specialists/training-jobs/{job}/claim",
        None,
        row(200, 200, 403, 403, 403, 403, 401),
    ),
    (
        "post",
        "/api/v1/specialists/training-jobs/claim-next",
        None,
        row(200, 200, 403, 403, 403, 403, 401),
    ),
    (
        "post",
        "/api/v1/specialists/{spec}/transition",
        {"to": "blocked", "reason": "r"},
        row(200, 200, 403, 403, 200, 200, 401),
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "expected"), MATRIX)
@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(org_a, agent, project, skill, method, path, body, expected, role):
    specialist = propose(agent, project).json()
    path = path.format(spec=specialist["id"], job=specialist["training_job"]["id"])
    if body == "proposal":
        body = proposal(project)
    elif body == "child":
        body = proposal(project, parent_level_identifier="level_1", parameter_count=1)
    response = getattr(caller(org_a, role), method)(path, body)
    assert response.status_code == expected[role], (role, response.content[:300])


def test_services_check_rights_for_non_http_callers(project, skill):
    from access.actors import Actor
    from hmcp.registry import skill_create
    from hmcp.rules import Proposal
    from hmcp.services import specialist_propose
    from hmcp.training import training_job_claim_next
    from metaqore_site.errors import GovernanceForbidden

    viewer = Actor("user", "vera", roles=frozenset({"viewer"}))
    admin = Actor("user", "adam", roles=frozenset({"org_admin"}))
    with pytest.raises(GovernanceForbidden):
        skill_create(actor=Actor("agent", "a"), skill_id="x", max_specialist_size_mb=1)
    with pytest.raises(GovernanceForbidden):
        specialist_propose(
            actor=viewer,
            project=project,
            proposal=Proposal("data-cleaning", (), 1, 1, None, False),
        )
    with pytest.raises(GovernanceForbidden):
        training_job_claim_next(actor=admin)  # users do not train


# --- one journey, every step in the trail -----------------------------------------------------


def test_the_whole_journey_writes_these_events(agent, trainer, project, skill):
    start = last_seq()
    created = propose(agent, project).json()
    job = created["training_job"]["id"]
    train(trainer, job, GOOD_METRICS)
    agent.post(
        f"/api/v1/specialists/{created['id']}/observations",
        {"invocations": 5, "golden_set_score": 0.7},
    )
    agent.post(
        f"/api/v1/specialists/{created['id']}/transition", {"to": "deprecated", "reason": "v2"}
    )
    assert event_types_after(start) == [
        "specialist.proposed",
        "artifact.declared",
        "specialist.transitioned",  # proposed → psmp_validating
        "specialist.transitioned",  # psmp_validating → training
        "training_job.queued",
        "training_job.claimed",
        "specialist.transitioned",  # training → validation_gating
        "artifact.transitioned",  # draft → active
        "specialist.transitioned",  # validation_gating → active
        "training_job.completed",
        "specialist.observed",
        "training_job.queued",  # retraining
        "specialist.drift_detected",
        "specialist.transitioned",  # active → deprecated
        "training_job.failed",  # the open retraining job is cancelled
        "artifact.transitioned",  # active → archived
    ]
    events = AuditEvent.objects.filter(seq__gt=start, resource_type="specialist")
    assert {e.resource_id for e in events} == {created["id"]}
    assert {e.task_type for e in events} == {"specialist_model:data-cleaning:level_1"}
