"""The append-only audit trail of an organization (one table per tenant schema).

Rows are written only by ``compliance.audit.audit_record``; the database itself refuses
UPDATE, DELETE and TRUNCATE on ``compliance_auditevent`` (pgtrigger triggers installed by the
migration, so ``migrate_schemas`` creates them in every organization's schema).
"""

from __future__ import annotations

import pgtrigger
from django.db import models

from metaqore_site.governed import GovernedManager, bookkeeping, governed
from metaqore_site.ids import public_id

GENESIS_HASH = "0" * 64  # the prev_hash of an organization's first event (seq 1)

# The audit events that are also live events (SSE, WebSocket, webhooks): what clients act on.
# A pattern ending in ".*" is a prefix; anything else is an exact event type.
STREAMED_EVENT_TYPES = (
    "artifact.*",
    "conflict.*",
    "routing.veto",
    "specialist.*",
    "policy.changed",
    # Access control: who may do what, and who signed in (issue #17).
    "user.*",
    "role.*",
    "auth.*",
    "agent_key.*",
)
EVENTS_CHANNEL = "metaqore_events"  # NOTIFY channel; payload "<schema>:<seq>"


def streamed_types_sql(column: str) -> str:
    """SQL true when ``column`` is a streamed event type (no % signs: safe in any SQL text)."""
    return " OR ".join(
        f"starts_with({column}, '{pattern[:-1]}')"
        if pattern.endswith("*")
        else f"{column} = '{pattern}'"
        for pattern in STREAMED_EVENT_TYPES
    )


def new_event_id() -> str:
    return public_id("evt")


def _refuse_truncate(name: str, table_label: str) -> pgtrigger.Trigger:
    # Protect() cannot express TRUNCATE (a statement-level event without transition tables).
    return pgtrigger.Trigger(
        name=name,
        level=pgtrigger.Statement,
        when=pgtrigger.Before,
        operation=pgtrigger.Truncate,
        func=f"RAISE EXCEPTION 'compliance: {table_label} cannot be truncated'; RETURN NULL;",
    )


# Declared inside compliance.definers' SECURITY DEFINER functions (erasure, retention). A
# session may set them too, but the guards below also require the table's owner as the current
# user, which only those functions (running as the owner) are for the runtime role.
ERASURE_SETTING = "metaqore.audit_erasure"
PRUNE_SETTING = "metaqore.audit_prune_upto"
# Qualified: a session's temporary table cannot stand in for pg_class.
_BY_OWNER = (
    "current_user = (SELECT pg_catalog.pg_get_userbyid(c.relowner) "
    "FROM pg_catalog.pg_class c WHERE c.oid = TG_RELID)"
)
_UNCHANGED = ", ".join(
    f"{{side}}.{name}"
    for name in (
        "id", "seq", "timestamp", "event_type", "organization", "provider", "task_type",
        "project_id", "resource_type", "request_id", "prev_hash", "hash", "chain_version",
        "personal_digest",
    )
)  # fmt: skip
AUDIT_EVENT_GUARD = f"""
IF TG_OP = 'DELETE' THEN
    IF OLD.seq <= coalesce(nullif(current_setting('{PRUNE_SETTING}', true), ''), '0')::bigint
       AND {_BY_OWNER}
    THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'compliance: audit events cannot be deleted (only by retention)';
END IF;
IF NOT {_BY_OWNER}
   OR coalesce(current_setting('{ERASURE_SETTING}', true), '') = ''
   OR NEW.erasure_id IS DISTINCT FROM current_setting('{ERASURE_SETTING}', true)
   OR NEW.salt <> ''
   OR ({_UNCHANGED.format(side="NEW")}) IS DISTINCT FROM ({_UNCHANGED.format(side="OLD")})
THEN
    RAISE EXCEPTION 'compliance: audit events cannot be updated (only redacted by an erasure)';
END IF;
RETURN NEW;
"""


class TxidCurrent(models.Func):
    function = "txid_current"
    template = "txid_current()"
    output_field = models.BigIntegerField()


# AFTER INSERT on audit events: the new event must extend the head, which moves to it. The
# head is looked up in the event's own schema (a session's search_path cannot redirect it).
HEAD_MOVE = """
EXECUTE format(
    'UPDATE %I.compliance_auditchainhead SET seq = $1, hash = $2 '
    'WHERE id = 1 AND seq = $1 - 1 AND hash = $3', TG_TABLE_SCHEMA
) USING NEW.seq, NEW.hash, NEW.prev_hash;
GET DIAGNOSTICS moved = ROW_COUNT;  -- EXECUTE does not set FOUND
IF moved <> 1 THEN
    RAISE EXCEPTION 'compliance: audit event % does not extend the chain head', NEW.seq;
END IF;
RETURN NULL;
"""
# BEFORE UPDATE on the head: seq/hash move only from the trigger above (depth 2), the base only
# together with retention's declared prune, by the owner (compliance.definers).
HEAD_GUARD = f"""
IF pg_trigger_depth() < 2 AND (NEW.seq, NEW.hash) IS DISTINCT FROM (OLD.seq, OLD.hash) THEN
    RAISE EXCEPTION 'compliance: the audit chain head moves only with an appended event';
END IF;
IF pg_trigger_depth() < 2
   AND (NEW.base_seq, NEW.base_hash) IS DISTINCT FROM (OLD.base_seq, OLD.base_hash)
   AND (NEW.base_seq::text IS DISTINCT FROM current_setting('{PRUNE_SETTING}', true)
        OR NOT {_BY_OWNER}) THEN
    RAISE EXCEPTION 'compliance: the audit chain base moves only with retention';
END IF;
RETURN NEW;
"""


class AuditEvent(models.Model):
    """One immutable event of the org's hash chain.

    ``hash = sha256(prev_hash + canonical JSON of the other fields)`` (see compliance.chain);
    ``seq`` is gap-free per organization, 1, 2, 3, …
    """

    id = models.CharField(primary_key=True, max_length=32, default=new_event_id, editable=False)
    seq = models.BigIntegerField(unique=True)
    timestamp = models.DateTimeField()
    event_type = models.CharField(max_length=100)
    organization = models.CharField(max_length=40)
    actor = models.CharField(max_length=220)
    agent_name = models.CharField(max_length=200, blank=True)
    provider = models.CharField(max_length=100, blank=True)
    task_type = models.CharField(max_length=100, blank=True)
    project_id = models.CharField(max_length=64, blank=True)
    resource_type = models.CharField(max_length=50, blank=True)
    resource_id = models.CharField(max_length=200, blank=True)
    request_id = models.CharField(max_length=128, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    # Chain version 2 (compliance.chain): the personal fields are hashed through a salted
    # digest, so an erasure can blank them (and the salt) and the chain still verifies.
    chain_version = models.PositiveSmallIntegerField(default=1, db_default=1)
    personal_digest = models.CharField(max_length=64, blank=True, default="", db_default="")
    salt = models.CharField(max_length=32, blank=True, default="", db_default="")
    # set when redacted
    erasure_id = models.CharField(max_length=32, blank=True, default="", db_default="")
    # The writing transaction (PostgreSQL's txid_current(), set by the database, not hashed):
    # the guard of governed tables and verification match changes to events by it. Events
    # older than the guards have none.
    txid = models.BigIntegerField(null=True, editable=False, db_default=TxidCurrent())

    class Meta:
        ordering = ["-seq"]
        # Every list is ordered by seq; each filter column pairs with seq so that a filtered,
        # newest-first page is an index range scan even with millions of rows.
        indexes = [
            # varchar_pattern_ops also serves the `artifact.*` prefix filter (LIKE 'artifact.%').
            models.Index(
                fields=["event_type", "seq"],
                name="audit_event_type_seq",
                opclasses=["varchar_pattern_ops", "int8_ops"],
            ),
            models.Index(fields=["actor", "seq"], name="audit_actor_seq"),
            models.Index(fields=["agent_name", "seq"], name="audit_agent_seq"),
            models.Index(fields=["provider", "seq"], name="audit_provider_seq"),
            models.Index(fields=["task_type", "seq"], name="audit_task_type_seq"),
            models.Index(fields=["project_id", "seq"], name="audit_project_seq"),
            models.Index(fields=["resource_id", "seq"], name="audit_resource_seq"),
            models.Index(fields=["timestamp"], name="audit_timestamp"),
            models.Index(fields=["txid"], name="audit_txid"),
        ]
        triggers = [
            # Never updated nor deleted, except by the two governed paths, each declared in
            # its transaction: an erasure redacts (compliance.erasure), retention removes
            # events already sealed in an archive under a signed checkpoint
            # (compliance.retention).
            pgtrigger.Trigger(
                name="audit_event_guard",
                level=pgtrigger.Row,
                when=pgtrigger.Before,
                operation=pgtrigger.Update | pgtrigger.Delete,
                func=AUDIT_EVENT_GUARD,
            ),
            _refuse_truncate("audit_event_no_truncate", "audit events"),
            # The chain head moves only here, with the event that extends it (the head's own
            # guard refuses any other change of its seq/hash: pg_trigger_depth() tells this
            # nested update from a session's UPDATE).
            pgtrigger.Trigger(
                name="audit_event_moves_head",
                level=pgtrigger.Row,
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                declare=[("moved", "integer")],
                func=HEAD_MOVE,
            ),
            # Live events: streaming processes LISTEN and read the new rows by seq. NOTIFY is
            # delivered on commit only, so a rolled-back event is never announced.
            pgtrigger.Trigger(
                name="audit_event_notify",
                level=pgtrigger.Row,
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                condition=pgtrigger.Condition(streamed_types_sql("NEW.event_type")),
                func=(
                    f"PERFORM pg_notify('{EVENTS_CHANNEL}', TG_TABLE_SCHEMA || ':' || NEW.seq);"
                    " RETURN NULL;"
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.event_type} by {self.actor}"

    @property
    def redacted(self) -> bool:
        return bool(self.erasure_id)


class AuditChainHead(models.Model):
    """The head of the org's chain: one row (pk 1) per schema, created by the migration.

    ``audit_record`` locks it (SELECT … FOR UPDATE) to append, which serializes appends per
    organization: seq stays gap-free and the chain cannot fork. It also lets verification notice
    events removed from the end of the chain. It may be updated, never deleted or truncated.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS_HASH)
    # Where the stored chain starts: events 1..base_seq were archived and removed by
    # retention; the first stored event chains from base_hash (a signed checkpoint's head).
    base_seq = models.BigIntegerField(default=0)
    base_hash = models.CharField(max_length=64, default=GENESIS_HASH)

    class Meta:
        triggers = [
            pgtrigger.Protect(name="audit_head_protect", operation=pgtrigger.Delete),
            _refuse_truncate("audit_head_no_truncate", "the audit chain head"),
            pgtrigger.Trigger(
                name="audit_head_governed_path",
                level=pgtrigger.Row,
                when=pgtrigger.Before,
                operation=pgtrigger.Update,
                func=HEAD_GUARD,
            ),
        ]

    def __str__(self) -> str:
        return f"head #{self.seq} {self.hash[:12]}"


def new_checkpoint_id() -> str:
    return public_id("ckp")


class AuditCheckpoint(models.Model):
    """A signed statement of the org's chain: events 1..``event_count`` end at ``head_hash``.

    The signed message is the canonical JSON of ``compliance.checkpoints.checkpoint_message``;
    ``checkpoint_hash`` is its sha256 and the next checkpoint's ``previous_checkpoint_hash``,
    so checkpoints form their own chain. Append-only, like the events.
    """

    KIND_PERIODIC = "periodic"
    KIND_ON_DEMAND = "on_demand"
    KIND_EVIDENCE = "evidence"
    KIND_RETENTION = "retention"
    KINDS = (
        (KIND_PERIODIC, "periodic"),
        (KIND_ON_DEMAND, "on demand"),
        (KIND_EVIDENCE, "evidence bundle"),
        (KIND_RETENTION, "retention boundary"),
    )

    id = models.CharField(
        primary_key=True, max_length=32, default=new_checkpoint_id, editable=False
    )
    seq = models.BigIntegerField(unique=True)
    event_count = models.BigIntegerField()
    head_hash = models.CharField(max_length=64)
    at = models.DateTimeField()
    previous_checkpoint_hash = models.CharField(max_length=64)
    checkpoint_hash = models.CharField(max_length=64, unique=True)
    key_id = models.CharField(max_length=32)
    signature = models.CharField(max_length=128)
    kind = models.CharField(max_length=20, choices=KINDS)
    requested_by = models.CharField(max_length=220)

    class Meta:
        ordering = ["-seq"]
        indexes = [models.Index(fields=["event_count"], name="audit_checkpoint_events")]
        triggers = [
            pgtrigger.Protect(
                name="audit_checkpoint_protect",
                operation=pgtrigger.Update | pgtrigger.Delete,
            ),
            _refuse_truncate("audit_checkpoint_no_truncate", "audit checkpoints"),
        ]

    def __str__(self) -> str:
        return f"checkpoint #{self.seq} at event {self.event_count}"


class SigningKey(models.Model):
    """A public key that signed this org's checkpoints, with its validity window.

    Recorded the first time the key signs for the org; its window closes when the next key
    first signs. Kept forever: old checkpoints verify against it after a rotation.
    """

    key_id = models.CharField(primary_key=True, max_length=32)
    algorithm = models.CharField(max_length=20, default="Ed25519")
    public_key = models.CharField(max_length=100)  # raw 32 bytes, base64
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["valid_from"]
        triggers = [
            pgtrigger.Protect(name="signing_key_protect", operation=pgtrigger.Delete),
            _refuse_truncate("signing_key_no_truncate", "signing keys"),
        ]

    def __str__(self) -> str:
        return f"{self.algorithm} {self.key_id}"


class GovernedChange(models.Model):
    """The journal of governed tables: one row per inserted, updated or deleted row, written by
    the ``metaqore_journal`` trigger (compliance.guards), never by the application. Verification
    reports the rows whose transaction wrote no audit event. Append-only."""

    id = models.BigAutoField(primary_key=True)
    table_name = models.CharField(max_length=63)
    row_id = models.CharField(max_length=200)
    operation = models.CharField(max_length=8)
    txid = models.BigIntegerField()
    actor = models.CharField(max_length=220, blank=True)  # metaqore.actor, when declared
    at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["txid"], name="governed_change_txid")]
        triggers = [
            pgtrigger.Protect(
                name="governed_change_protect", operation=pgtrigger.Update | pgtrigger.Delete
            ),
            _refuse_truncate("governed_change_no_truncate", "the governed-change journal"),
        ]

    def __str__(self) -> str:
        return f"{self.operation} {self.table_name} {self.row_id} (txid {self.txid})"


# The trail itself: append-only and hash-chained, guarded by its own triggers above.
bookkeeping(AuditEvent, reason="the audit trail itself (append-only, hash-chained)")
bookkeeping(AuditChainHead, reason="the head of the audit chain (moved by every append)")
bookkeeping(AuditCheckpoint, reason="signed checkpoints of the trail (append-only, own triggers)")
bookkeeping(SigningKey, reason="public keys that signed checkpoints (kept forever)")


def new_erasure_id() -> str:
    return public_id("ers")


class Erasure(models.Model):
    """A request to erase personal data from the audit trail: requested by a compliance
    officer, approved by a different org admin (four eyes), executed by a job.

    ``subject`` names what is erased: ``{"actor": "agent:x" | "user:y"}`` or ``{"field":
    "payload.<path>", "equals": <value>}``. Once executed, the value is removed from this row
    too (``subject`` keeps only its kind and field path)."""

    REQUESTED = "requested"
    APPROVED = "approved"
    EXECUTED = "executed"
    STATUSES = ((REQUESTED, "requested"), (APPROVED, "approved"), (EXECUTED, "executed"))

    id = models.CharField(primary_key=True, max_length=32, default=new_erasure_id, editable=False)
    subject = models.JSONField()
    reason = models.TextField()
    status = models.CharField(max_length=20, choices=STATUSES, default=REQUESTED)
    requested_by = models.CharField(max_length=220)
    requested_at = models.DateTimeField()
    approved_by = models.CharField(max_length=220, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    executed_at = models.DateTimeField(null=True, blank=True)
    events_redacted = models.IntegerField(null=True, blank=True)

    objects = GovernedManager()

    class Meta:
        ordering = ["-requested_at"]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"

    def audit_target(self) -> dict[str, str]:
        return {"resource_type": "erasure", "resource_id": self.id}


governed(Erasure, service="compliance.erasure (erasure_request, erasure_approve, erasure_execute)")


def new_verification_id() -> str:
    return public_id("ver")


class AuditVerification(models.Model):
    """One run of the server's verification of the chain and its checkpoints, with progress.

    ``incremental`` runs (GET …/verify, the dashboard) start from the newest checkpoint a passed
    run already covered; ``full`` runs (the ``compliance.verify_full`` job, ``audit_verify``)
    start from the genesis or the retention boundary and report progress while they run."""

    KIND_FULL = "full"
    KIND_INCREMENTAL = "incremental"
    KINDS = ((KIND_FULL, "full"), (KIND_INCREMENTAL, "incremental"))
    QUEUED, RUNNING, PASSED, FAILED = "queued", "running", "passed", "failed"
    STATUSES = ((QUEUED, QUEUED), (RUNNING, RUNNING), (PASSED, PASSED), (FAILED, FAILED))

    id = models.CharField(
        primary_key=True, max_length=32, default=new_verification_id, editable=False
    )
    kind = models.CharField(max_length=20, choices=KINDS)
    status = models.CharField(max_length=20, choices=STATUSES, default=QUEUED)
    requested_by = models.CharField(max_length=220)
    requested_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    from_seq = models.BigIntegerField(default=0)
    through_seq = models.BigIntegerField(default=0)
    events_total = models.BigIntegerField(default=0)
    events_checked = models.BigIntegerField(default=0)
    checkpoints_checked = models.IntegerField(default=0)
    first_bad_seq = models.BigIntegerField(null=True, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at"]
        indexes = [models.Index(fields=["status", "through_seq"], name="audit_verification_done")]

    def __str__(self) -> str:
        return f"{self.kind} verification {self.id} ({self.status})"


bookkeeping(AuditVerification, reason="runs of the chain verification and their progress")
bookkeeping(GovernedChange, reason="the journal of governed tables, written by their triggers")
