"""Exactly one audit event per change, on every write path: API, admin, service, shell."""

from __future__ import annotations

from django.contrib.admin.utils import quote as admin_quote
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from access.actors import SYSTEM, Actor
from access.keys import agent_key_create, agent_key_revoke
from access.models import AgentKey
from access.roles import ORG_ADMIN
from compliance.models import AuditEvent
from projects.models import Project, Task
from projects.services import project_update, task_update
from tests.compliance.conftest import events_after, kinds, last_seq
from tests.conftest import use_org


def test_project_and_task_through_the_api(agent_client, org_a):
    start = last_seq()
    project = agent_client.post("/api/v1/projects", {"name": "Payments"}).json()
    task = agent_client.post(
        "/api/v1/tasks", {"project_id": project["id"], "title": "Write tests"}
    ).json()
    agent_client.patch(f"/api/v1/projects/{project['id']}", {"status": "planning"})
    agent_client.patch(f"/api/v1/tasks/{task['id']}", {"status": "completed"})
    agent_client.patch(f"/api/v1/tasks/{task['id']}", {"status": "completed"})  # no change
    agent_client.patch(f"/api/v1/projects/{project['id']}", {"name": "Payments"})  # no change
    assert agent_client.delete(f"/api/v1/tasks/{task['id']}").status_code == 204
    assert agent_client.delete(f"/api/v1/projects/{project['id']}").status_code == 204

    events = events_after(start)
    assert kinds(events) == [
        ("project.created", "agent:coder"),
        ("task.created", "agent:coder"),
        ("project.updated", "agent:coder"),
        ("task.updated", "agent:coder"),
        ("task.deleted", "agent:coder"),
        ("project.deleted", "agent:coder"),
    ]
    created, task_created, updated, task_updated, task_deleted, deleted = events
    assert created.resource_type == "project" and created.resource_id == project["id"]
    assert created.project_id == project["id"] and created.agent_name == "coder"
    assert created.payload["after"]["name"] == "Payments"
    assert created.payload["after"]["owner_id"] == "agent:coder"
    assert task_created.resource_id == task["id"] and task_created.project_id == project["id"]
    assert updated.payload == {
        "before": {"status": "initialized"},
        "after": {"status": "planning"},
    }
    assert task_updated.payload["before"] == {"status": "pending", "completed_at": None}
    assert task_updated.payload["after"]["status"] == "completed"
    assert task_updated.payload["after"]["completed_at"].endswith("Z")
    assert task_deleted.payload["before"]["title"] == "Write tests"
    assert deleted.payload["before"]["status"] == "planning"
    # every event of a request carries its request id
    assert all(len(event.request_id) == 32 for event in events)


def test_deleting_a_project_audits_its_tasks_under_the_same_actor(agent_client, org_a):
    project = agent_client.post("/api/v1/projects", {"name": "P"}).json()
    for title in ("a", "b"):
        agent_client.post("/api/v1/tasks", {"project_id": project["id"], "title": title})
    start = last_seq()
    agent_client.delete(f"/api/v1/projects/{project['id']}")
    assert kinds(events_after(start)) == [
        ("task.deleted", "agent:coder"),
        ("task.deleted", "agent:coder"),
        ("project.deleted", "agent:coder"),
    ]


def test_request_id_of_the_client_is_recorded(agent_client, org_a):
    start = last_seq()
    agent_client.post("/api/v1/projects", {"name": "P"}, HTTP_X_REQUEST_ID="client-req-7")
    assert events_after(start)[0].request_id == "client-req-7"


def test_an_admin_edit_is_one_event_by_the_admin_user(org_a):
    user = get_user_model().objects.create_superuser("root", "", "pw-Secret-123")
    user.groups.add(Group.objects.get(name=ORG_ADMIN))
    project = Project.objects.create(name="Old name")
    client = Client(HTTP_HOST="alpha.localhost")
    client.force_login(user)  # auth.login: before the change measured
    start = last_seq()
    response = client.post(
        f"/admin/projects/project/{admin_quote(project.pk)}/change/",
        {
            "name": "New name",
            "description": "",
            "owner_id": project.owner_id,
            "status": "planning",
            "metadata": "{}",
            "_save": "Save",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    use_org(org_a)
    events = events_after(start)
    assert kinds(events) == [("project.updated", "user:root")]
    assert events[0].payload == {
        "before": {"name": "Old name", "status": "initialized"},
        "after": {"name": "New name", "status": "planning"},
    }

    # The trail itself is read-only in the admin.
    event = events[0]
    assert (
        client.get(f"/admin/compliance/auditevent/{admin_quote(event.pk)}/change/").status_code
        == 200
    )
    assert client.get("/admin/compliance/auditevent/").status_code == 200
    assert client.get("/admin/compliance/auditevent/add/").status_code == 403
    assert (
        client.post(f"/admin/compliance/auditevent/{admin_quote(event.pk)}/delete/").status_code
        == 403
    )
    use_org(org_a)
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_orm_writes_from_the_shell_are_audited_as_system(org_a):
    start = last_seq()
    project = Project.objects.create(name="Shell")
    task = Task.objects.create(project=project, title="t")
    project.name = "Shell 2"
    project.save()
    project.save()  # nothing changed: no event
    task.status = Task.Status.BLOCKED
    task.save(update_fields=["status"])
    task.delete()
    project.delete()

    events = events_after(start)
    assert kinds(events) == [
        ("project.created", "system"),
        ("task.created", "system"),
        ("project.updated", "system"),
        ("task.updated", "system"),
        ("task.deleted", "system"),
        ("project.deleted", "system"),
    ]
    assert events[2].payload == {"before": {"name": "Shell"}, "after": {"name": "Shell 2"}}
    assert events[3].payload == {"before": {"status": "pending"}, "after": {"status": "blocked"}}
    assert events[1].project_id == events[3].project_id == project.id or events[1].project_id
    assert all(event.agent_name == "" for event in events)


def test_a_cascade_outside_the_services_is_still_audited(org_a):
    project = Project.objects.create(name="Cascade")
    Task.objects.create(project=project, title="child")
    start = last_seq()
    project.delete()
    assert kinds(events_after(start)) == [("task.deleted", "system"), ("project.deleted", "system")]


def test_a_service_save_is_not_audited_twice(org_a):
    project = Project.objects.create(name="Once")
    start = last_seq()
    project_update(project=project, actor=Actor("user", "ann"), changes={"name": "Twice?"})
    project.description = "then a plain save, later"
    project.save()
    assert kinds(events_after(start)) == [
        ("project.updated", "user:ann"),
        ("project.updated", "system"),
    ]


def test_task_update_that_changes_nothing_writes_nothing(org_a):
    task = Task.objects.create(project=Project.objects.create(name="P"), title="t")
    start = last_seq()
    task_update(task=task, actor=SYSTEM, changes={"title": "t", "status": "pending"})
    assert events_after(start) == []


def test_agent_keys_created_and_revoked(org_a):
    start = last_seq()
    new = agent_key_create(
        agent_name="builder", privileged=True, actor=Actor("user", "ann"), created_by="user:ann"
    )
    agent_key_revoke(prefix=new.record.prefix, actor=Actor("user", "ann"))
    agent_key_revoke(prefix=new.record.prefix)  # already revoked: nothing changes

    events = events_after(start)
    assert kinds(events) == [("agent_key.created", "user:ann"), ("agent_key.revoked", "user:ann")]
    created, revoked = events
    assert created.agent_name == "builder" and created.resource_type == "agent_key"
    assert created.resource_id == new.record.prefix
    assert created.payload["privileged"] is True and created.payload["agent"] == "builder"
    assert revoked.payload["revoked_at"]
    # Never the key nor its hash.
    for event in events:
        text = str(event.payload) + event.resource_id
        assert new.key not in text and new.record.key_hash not in text


def test_agent_key_orm_writes_are_audited(org_a):
    new = agent_key_create(agent_name="builder")
    start = last_seq()
    key = AgentKey.objects.get(pk=new.record.pk)
    key.is_privileged = True
    key.save()
    key.revoked_at = key.created_at
    key.save()
    AgentKey.objects.filter(pk=key.pk).update(last_used_at=key.created_at)  # bookkeeping only
    events = events_after(start)
    assert kinds(events) == [("agent_key.updated", "system"), ("agent_key.revoked", "system")]
    assert events[0].payload == {
        "before": {"is_privileged": False},
        "after": {"is_privileged": True},
    }
    assert events[1].agent_name == "builder"


def test_admin_revoke_action_goes_through_the_service(org_a):
    user = get_user_model().objects.create_superuser("root", "", "pw-Secret-123")
    new = agent_key_create(agent_name="builder")
    client = Client(HTTP_HOST="alpha.localhost")
    client.force_login(user)  # auth.login: before the change measured
    start = last_seq()
    response = client.post(
        "/admin/access/agentkey/",
        {"action": "revoke", "_selected_action": [new.record.pk]},
    )
    assert response.status_code == 302
    use_org(org_a)
    assert kinds(events_after(start)) == [("agent_key.revoked", "user:root")]
