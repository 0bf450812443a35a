"""audit_record: the chain, the transaction it writes in, and what the database refuses."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from django.db import DatabaseError, connection, transaction

from access.actors import SYSTEM, Actor
from compliance import audit
from compliance.audit import AuditUnavailable, audit_record, on_audit_event
from compliance.chain import (
    HASHED_FIELDS,
    PERSONAL_FIELDS,
    canonical_json,
    event_as_dict,
    event_hash,
    normalize_payload,
)
from compliance.models import GENESIS_HASH, AuditChainHead, AuditEvent
from metaqore_site.middleware import current_request_id
from projects.models import Project
from projects.services import project_create
from tests.compliance.conftest import events_after, last_seq, raw_sql


def test_organization_created_is_the_first_event_of_an_org(org_a):
    first = AuditEvent.objects.get(seq=1)
    assert first.event_type == "organization.created"
    assert first.actor == "system"
    assert first.organization == "alpha"
    assert first.resource_type == "organization"
    assert first.resource_id == "alpha"
    assert first.prev_hash == GENESIS_HASH
    assert first.payload == {
        "name": "Alpha",
        "domain": "alpha.localhost",
        "schema_name": "org_alpha",
    }


def test_append_links_to_the_head_and_hashes_canonical_fields(org_a):
    start = last_seq()
    head_before = AuditChainHead.objects.get().hash
    agent = Actor(kind="agent", name="coder")
    token = current_request_id.set("req-123")
    try:
        first = audit_record(
            event_type="artifact.declared",
            actor=agent,
            resource_type="artifact",
            resource_id="art_1",
            project_id="proj_1",
            payload={"b": 2, "a": [1, 2.5, "é"]},
            provider="openai",
            task_type="code",
        )
    finally:
        current_request_id.reset(token)
    second = audit_record(event_type="x.done", actor="user:ann", request_id="explicit")

    assert (first.seq, second.seq) == (start + 1, start + 2)
    assert first.id.startswith("evt_") and len(first.id) >= 16
    assert first.prev_hash == head_before and second.prev_hash == first.hash
    assert first.agent_name == "coder"  # defaulted from the agent actor
    assert first.actor == "agent:coder" and second.actor == "user:ann"
    assert first.request_id == "req-123" and second.request_id == "explicit"
    assert first.organization == "alpha"
    assert AuditChainHead.objects.get().seq == second.seq
    assert AuditChainHead.objects.get().hash == second.hash

    # Recompute by hand from what the database returns.
    stored = AuditEvent.objects.get(pk=first.pk)
    fields = event_as_dict(stored)
    assert fields["chain_version"] == 2 and len(fields["salt"]) == 32
    personal = canonical_json(
        {"salt": fields["salt"], **{name: fields[name] for name in PERSONAL_FIELDS}}
    )
    assert '"payload":{"a":[1,2.5,"é"],"b":2}' in personal
    assert hashlib.sha256(personal.encode()).hexdigest() == stored.personal_digest
    hashed = {name: fields[name] for name in HASHED_FIELDS if name not in PERSONAL_FIELDS}
    body = canonical_json({**hashed, "chain_version": 2, "personal_digest": stored.personal_digest})
    assert "agent:coder" not in body and '"payload"' not in body
    assert fields["timestamp"].endswith("Z") and len(fields["timestamp"]) == 27
    expected = hashlib.sha256((stored.prev_hash + body).encode()).hexdigest()
    assert stored.hash == expected == event_hash(stored.prev_hash, fields)


def test_payload_is_normalized_to_what_jsonb_returns(org_a):
    when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    event = audit_record(
        event_type="x.y", actor=SYSTEM, payload={"when": when, "big": 1e20, "n": 1.0}
    )
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.payload == {"when": "2025-01-02T03:04:05Z", "big": 10**20, "n": 1.0}
    assert event_hash(stored.prev_hash, event_as_dict(stored)) == stored.hash
    with pytest.raises(ValueError):
        normalize_payload({"x": float("nan")})


def test_no_organization_no_audit(db):
    connection.set_schema_to_public()
    with pytest.raises(AuditUnavailable):
        audit_record(event_type="x.y", actor=SYSTEM)


def test_a_rolled_back_change_leaves_no_event(org_a):
    start = last_seq()
    with pytest.raises(RuntimeError), transaction.atomic():
        project_create(actor=SYSTEM, name="doomed")
        assert [e.event_type for e in events_after(start)] == ["project.created"]
        raise RuntimeError("caller fails after the event was written")
    assert events_after(start) == []
    assert not Project.objects.filter(name="doomed").exists()
    assert AuditChainHead.objects.get().seq == start
    # and the chain continues gap-free
    assert audit_record(event_type="x.y", actor=SYSTEM).seq == start + 1


def test_when_the_event_cannot_be_written_the_change_fails(org_a):
    start = last_seq()
    raw_sql(
        """
        CREATE FUNCTION pg_temp.refuse_audit() RETURNS trigger AS $$
        BEGIN RAISE EXCEPTION 'audit storage unavailable'; END; $$ LANGUAGE plpgsql;
        CREATE TRIGGER refuse_audit BEFORE INSERT ON compliance_auditevent
            FOR EACH ROW EXECUTE FUNCTION pg_temp.refuse_audit();
        """
    )
    with pytest.raises(DatabaseError, match="audit storage unavailable"):
        project_create(actor=SYSTEM, name="unaudited")
    raw_sql("DROP TRIGGER refuse_audit ON compliance_auditevent")
    assert not Project.objects.filter(name="unaudited").exists()
    assert events_after(start) == []


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE compliance_auditevent SET payload = '{}' WHERE seq = 1",
        "UPDATE compliance_auditevent SET actor = actor",
        "DELETE FROM compliance_auditevent WHERE seq = 1",
        "DELETE FROM compliance_auditevent",
        "TRUNCATE compliance_auditevent",
        "TRUNCATE compliance_auditevent CASCADE",
        "DELETE FROM compliance_auditchainhead",
        "TRUNCATE compliance_auditchainhead",
    ],
)
def test_the_database_refuses_to_rewrite_history(org_a, statement):
    audit_record(event_type="x.y", actor=SYSTEM)
    count = AuditEvent.objects.count()
    refused = r"Cannot|cannot be (truncated|updated|deleted)"
    with pytest.raises(DatabaseError, match=refused), transaction.atomic():
        raw_sql(statement)
    assert AuditEvent.objects.count() == count


def test_the_orm_cannot_rewrite_history_either(org_a):
    event = audit_record(event_type="x.y", actor=SYSTEM)
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(actor="user:mallory")
    with pytest.raises(DatabaseError), transaction.atomic():
        event.delete()
    assert AuditEvent.objects.get(pk=event.pk).actor == "system"


def test_protect_triggers_exist_in_every_org_schema(org_a, org_b):
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT n.nspname, c.relname, t.tgname FROM pg_trigger t
            JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE NOT t.tgisinternal AND t.tgenabled = 'O'
              AND c.relname IN ('compliance_auditevent', 'compliance_auditchainhead')
            """
        )
        found = {(schema, table, name.rsplit("_", 1)[0]) for schema, table, name in cursor}
    for schema in ("org_alpha", "org_beta"):
        assert {
            (schema, "compliance_auditevent", "pgtrigger_audit_event_guard"),
            (schema, "compliance_auditevent", "pgtrigger_audit_event_no_truncate"),
            (schema, "compliance_auditchainhead", "pgtrigger_audit_head_protect"),
            (schema, "compliance_auditchainhead", "pgtrigger_audit_head_no_truncate"),
        } <= found
    assert not any(schema == "public" for schema, _table, _name in found)


def test_each_org_has_its_own_chain(org_a, org_b):
    audit_record(event_type="x.alpha", actor=SYSTEM)
    connection.set_tenant(org_b)
    event = audit_record(event_type="x.beta", actor=SYSTEM)
    assert event.organization == "beta"
    assert not AuditEvent.objects.filter(event_type="x.alpha").exists()
    assert AuditEvent.objects.get(seq=1).resource_id == "beta"


def test_append_costs_two_queries(org_a, django_assert_num_queries):
    audit_record(event_type="warm.up", actor=SYSTEM)
    with django_assert_num_queries(2):  # lock the head; insert + move the head
        audit_record(event_type="x.y", actor=SYSTEM, payload={"k": "v"})


@pytest.fixture
def hooks_restored():
    registered = list(audit._event_hooks)
    yield
    audit._event_hooks[:] = registered
    audit._append_statement.cache_clear()


def test_a_hooks_read_runs_in_the_appends_own_statement(
    org_a, hooks_restored, django_assert_num_queries
):
    """A hook that reads (events: the active webhooks) costs no round trip of its own: its
    value comes back from the statement that inserts the event."""
    seen = []
    on_audit_event(
        lambda event, value: seen.append((event.seq, value)),
        read_sql=f'SELECT max(seq)::text FROM "{AuditEvent._meta.db_table}"',
    )
    on_audit_event(lambda event: seen.append((event.seq, "no read")))
    audit_record(event_type="warm.up", actor=SYSTEM)
    with django_assert_num_queries(2):  # lock the head; insert + move the head + the reads
        event = audit_record(event_type="x.y", actor=SYSTEM)
    # A data-modifying CTE's rows are not visible to its own statement's reads: the read
    # sees the chain as it was when the lock was granted, the event's predecessor last.
    assert seen[-2:] == [(event.seq, str(event.seq - 1)), (event.seq, "no read")]
    assert AuditEvent.objects.get(seq=event.seq).event_type == "x.y"


def test_a_hook_runs_and_reads_only_for_the_event_types_it_applies_to(
    org_a, hooks_restored, django_assert_num_queries
):
    seen = []
    on_audit_event(
        lambda event, value: seen.append((event.event_type, value)),
        read_sql="SELECT 'read'",
        applies=lambda event_type: event_type.startswith("live."),
    )
    audit_record(event_type="warm.up", actor=SYSTEM)
    with django_assert_num_queries(2) as quiet:
        audit_record(event_type="quiet.thing", actor=SYSTEM)
    with django_assert_num_queries(2) as live:
        audit_record(event_type="live.thing", actor=SYSTEM)
    assert seen == [("live.thing", "read")]
    assert quiet.captured_queries[1]["sql"].startswith("INSERT")  # no read for it
    assert live.captured_queries[1]["sql"].startswith("WITH appended AS (INSERT")
