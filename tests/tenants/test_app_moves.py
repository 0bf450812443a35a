"""Orgs created before the re-shelving (agents and keys, conflicts and HMCP in `governance`,
webhooks in `compliance`) migrate to the new apps without losing a row.

The test builds an org schema on the old migrations, fills it through the historical models,
migrates it to the current state and reads everything back through today's models. It runs in
the test's transaction, so the schema is rolled back at the end.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import DatabaseError, connection, transaction
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone

from access.keys import agent_key_authenticate, hash_key
from access.models import AgentKey
from access.role_permissions import ROLE_MODEL_PERMISSIONS
from access.roles import AUDITOR, ROLES
from artifacts.models import Artifact, Conflict
from compliance.audit import audit_record
from compliance.chain import event_hash, format_timestamp
from compliance.models import AuditEvent
from compliance.selectors import audit_chain_verify
from events.models import Webhook, WebhookDelivery
from hmcp.models import Skill, Specialist, TrainingJob
from metaqore_site.governed import classifications
from tenants.provisioning import schema_migrate

SCHEMA = "org_before_the_move"
# The newest migration of each app before the models moved (and what they need).
OLD_STATE = [
    ("contenttypes", "0002_remove_content_type_name"),
    ("auth", "0012_alter_user_first_name_max_length"),
    ("projects", "0003_task_created_at_index"),
    ("artifacts", "0003_list_order_indexes"),
    ("compliance", "0002_webhooks_live_events"),
    ("governance", "0008_list_order_indexes"),
]
KEY = "mq_" + "k" * 43


def old_models():
    """The historical models of OLD_STATE (no custom save(), no services)."""
    return MigrationLoader(connection).project_state(OLD_STATE, at_end=True).apps


def old_event(apps, event_type: str, **fields: str):
    """An event as audit_record wrote it then (chain version 1: the payload hashed as is)."""
    head_model = apps.get_model("compliance", "AuditChainHead")
    head = head_model.objects.get(pk=1)
    values = {
        "id": f"evt_{head.seq + 1:016d}",
        "seq": head.seq + 1,
        "timestamp": timezone.now(),
        "event_type": event_type,
        "organization": "before",
        "actor": "system",
        "agent_name": "",
        "provider": "",
        "task_type": "",
        "project_id": "",
        "resource_type": "",
        "resource_id": "",
        "request_id": "",
        "payload": {"legacy": True},
        **fields,
    }
    hashed = {**values, "timestamp": format_timestamp(values["timestamp"])}
    event = apps.get_model("compliance", "AuditEvent").objects.create(
        **values, prev_hash=head.hash, hash=event_hash(head.hash, hashed)
    )
    head_model.objects.filter(pk=1).update(seq=event.seq, hash=event.hash)
    return event


def fill_the_old_schema() -> dict[str, str]:
    apps = old_models()
    now = timezone.now()
    project = apps.get_model("projects", "Project").objects.create(
        id="proj_000000000001", name="Legacy"
    )
    artifact = apps.get_model("artifacts", "Artifact").objects.create(
        id="art_000000000001",
        project=project,
        artifact_type="specialist_model:cleaning:level_1",
        version=1,
        data={"weights": "s3://models/cleaning"},
        created_by="agent:trainer",
        content_hash="0" * 64,
    )
    apps.get_model("governance", "Conflict").objects.create(
        id="conf_000000000001",
        project=project,
        artifact=artifact,
        conflict_type="parallel_creation",
        severity="high",
        description="two agents",
        suggested_strategy="merge",
    )
    agent = apps.get_model("governance", "Agent").objects.create(name="legacy-agent")
    apps.get_model("governance", "AgentKey").objects.create(
        agent=agent, prefix=KEY[:12], key_hash=hash_key(KEY), created_by="admin"
    )
    skill = apps.get_model("governance", "Skill").objects.create(
        skill_id="cleaning", max_specialist_size_mb=50
    )
    specialist = apps.get_model("governance", "Specialist").objects.create(
        id="spec_000000000001",
        skill=skill,
        project=project,
        artifact=artifact,
        level="level_1",
        parameter_count=1000,
        requested_size_mb=4.0,
        created_by="agent:trainer",
        lifecycle="training",
        lifecycle_history=[{"state": "proposed", "actor": "agent:trainer", "reason": ""}],
    )
    apps.get_model("governance", "TrainingJob").objects.create(
        id="job_000000000001",
        specialist=specialist,
        status="claimed",
        claimed_by="agent:trainer",
        lease_expires_at=now + timedelta(minutes=30),
    )
    webhook = apps.get_model("compliance", "Webhook").objects.create(
        id="whk_000000000001", url="https://hooks.example.com/in", secret="s" * 20
    )
    first = old_event(apps, "project.created", resource_id=project.id)
    second = old_event(apps, "agent_key.created", resource_id=KEY[:12])
    apps.get_model("compliance", "WebhookDelivery").objects.create(
        id="whd_000000000001",
        webhook=webhook,
        event_seq=second.seq,
        event_id=second.id,
        event_type=second.event_type,
    )
    # A role that was granted a permission on a model that moves (the old migrate created the
    # content types and permissions of the old state).
    permission = apps.get_model("auth", "Permission").objects.get(
        content_type__app_label="governance", codename="view_agentkey"
    )
    group = apps.get_model("auth", "Group").objects.create(name="key-readers")
    group.permissions.add(permission)
    # The role groups, as organization_start made them then (without admin permissions).
    for role in ROLES:
        apps.get_model("auth", "Group").objects.create(name=role)
    return {"first_event": first.id, "second_event": second.id}


@pytest.fixture
def old_org(db):
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA {SCHEMA}")
    for app_label, migration in OLD_STATE:
        schema_migrate(SCHEMA, app_label, migration)
    connection.set_schema(SCHEMA)
    try:
        ids = fill_the_old_schema()
        # Check the foreign keys now: their deferred checks would otherwise still be pending
        # when a later migration alters those tables in this same transaction (as a real
        # upgrade, whose rows were committed long before, never is).
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    finally:
        connection.set_schema_to_public()
    yield ids
    connection.set_schema_to_public()


def test_the_old_state_has_none_of_the_new_apps(old_org):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT app FROM {SCHEMA}.django_migrations")
        apps = {row[0] for row in cursor.fetchall()}
    assert {"governance", "compliance", "artifacts"} <= apps
    assert not apps & {"access", "hmcp", "events"}


def test_an_org_migrated_from_before_the_move_keeps_everything(old_org):
    schema_migrate(SCHEMA)
    connection.set_schema(SCHEMA)

    # Keys: the same row, still authenticating.
    key = agent_key_authenticate(KEY)
    assert key is not None and key.agent.name == "legacy-agent" and key.created_by == "admin"
    assert AgentKey.objects.count() == 1

    # HMCP: the specialist with its skill, artifact and claimed training job.
    specialist = Specialist.objects.select_related("skill", "artifact").get(pk="spec_000000000001")
    assert specialist.skill == Skill.objects.get(skill_id="cleaning")
    assert (
        specialist.lifecycle == "training"
        and specialist.lifecycle_history[0]["state"] == "proposed"
    )
    assert specialist.artifact == Artifact.objects.get(pk="art_000000000001")
    job = TrainingJob.objects.get(pk="job_000000000001")
    assert (job.specialist_id, job.status, job.claimed_by) == (
        specialist.pk,
        "claimed",
        "agent:trainer",
    )
    assert Conflict.objects.get(pk="conf_000000000001").artifact_id == "art_000000000001"

    # Events: the trail and its chain are untouched; webhooks kept their delivery log.
    events = list(AuditEvent.objects.order_by("seq").values_list("id", "event_type"))
    assert [event_id for event_id, _type in events[:2]] == [
        old_org["first_event"],
        old_org["second_event"],
    ]
    # then only the roles' new admin permissions, an audited change of governed tables
    assert {event_type for _id, event_type in events[2:]} == {"role.permissions_changed"}
    assert audit_chain_verify().ok
    # Old events keep chain version 1; new ones are version 2 and the chain still verifies.
    assert set(
        AuditEvent.objects.filter(
            id__in=[old_org["first_event"], old_org["second_event"]]
        ).values_list("chain_version", flat=True)
    ) == {1}
    assert audit_record(event_type="x.after", actor="system").chain_version == 2
    assert audit_chain_verify().ok
    delivery = WebhookDelivery.objects.get(pk="whd_000000000001")
    assert delivery.webhook == Webhook.objects.get(pk="whk_000000000001")
    assert delivery.event_id == old_org["second_event"]

    # A group keeps its permission: the content type followed the model to its new app.
    content_type = ContentType.objects.get_for_model(AgentKey)
    assert content_type.app_label == "access"
    assert not ContentType.objects.filter(app_label="governance", model="agentkey").exists()
    assert Group.objects.get(name="key-readers").permissions.get() == Permission.objects.get(
        content_type=content_type, codename="view_agentkey"
    )
    # The role groups got the admin permissions of their role (access.role_permissions).
    auditor = Group.objects.get(name=AUDITOR)
    assert auditor.permissions.count() == len(ROLE_MODEL_PERMISSIONS[AUDITOR])

    # The lifecycle guard moved with HMCP: once, under its new name, still refusing.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = 'governance_specialist' AND NOT tgisinternal "
            "AND tgname NOT LIKE 'metaqore_%%'",
            [SCHEMA],
        )
        assert [name.rsplit("_", 1)[0] for (name,) in cursor.fetchall()] == [
            "pgtrigger_specialist_lifecycle_fsm"
        ]
        # The governed tables' guards (compliance.guards) came with the migrations too.
        cursor.execute(
            "SELECT c.relname, count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE c.relnamespace = to_regnamespace(%s) AND t.tgname LIKE 'metaqore_%%' "
            "GROUP BY c.relname",
            [SCHEMA],
        )
        guarded = dict(cursor.fetchall())
    governed = {
        apps.get_model(label)._meta.db_table
        for label, entry in classifications().items()
        if entry.governed
    }
    assert guarded == dict.fromkeys(governed, 3)
    with (
        pytest.raises(DatabaseError, match="Invalid transition"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE governance_specialist SET lifecycle = 'proposed' WHERE id = %s",
            [specialist.pk],
        )
