"""Reads of the audit trail: chain verification against the database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db import connection, transaction
from django.db.models import Exists, OuterRef

from compliance.chain import (
    EVENT_FIELDS,
    VerifyResult,
    chain_verify,
    format_timestamp,
    row_as_dict,
)
from compliance.models import GENESIS_HASH, AuditChainHead, AuditEvent, GovernedChange

VERIFY_CHUNK_SIZE = 5000
UNAUDITED_LIMIT = 1000  # reported per verification; the journal keeps them all


def _rows() -> Iterator[dict]:
    rows = AuditEvent.objects.order_by("seq").values_list(*EVENT_FIELDS)
    for row in rows.iterator(chunk_size=VERIFY_CHUNK_SIZE):
        yield row_as_dict(row)


def audit_chain_verify() -> VerifyResult:
    """Recompute the current organization's whole chain from the database.

    Reads the chain head and the events from one snapshot (REPEATABLE READ when not already
    inside a transaction), so concurrent appends do not look like tampering. Besides each
    event's own checks (see chain_verify), the head must name the last event: events removed
    from the end, or rows appended behind audit_record's back, show up there.
    """
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        head_seq, head_hash, base_seq, base_hash = AuditChainHead.objects.filter(pk=1).values_list(
            "seq", "hash", "base_seq", "base_hash"
        ).first() or (
            0,
            GENESIS_HASH,
            0,
            GENESIS_HASH,
        )
        # Events up to base_seq were archived and removed by retention (compliance.retention):
        # the stored chain starts after that signed boundary.
        result = chain_verify(
            _rows(), start_seq=base_seq + 1, start_hash=base_hash, expected_count=head_seq
        )
        unaudited = unaudited_changes()
    result.unaudited_changes = unaudited
    if not result.ok:
        return result
    if result.events_checked > head_seq - base_seq:
        return VerifyResult(
            False,
            result.events_checked,
            head_seq + 1,
            result.head_hash,
            f"events after the chain head (seq {head_seq})",
        )
    if head_seq and result.head_hash != head_hash:
        return VerifyResult(
            False,
            result.events_checked,
            head_seq,
            result.head_hash,
            "the chain head's hash does not match the last event",
            unaudited_changes=unaudited,
        )
    if unaudited:
        result.ok = False
        result.reason = unaudited_reason(unaudited)
    return result


def unaudited_reason(unaudited: list[dict[str, Any]]) -> str:
    more = "" if len(unaudited) < UNAUDITED_LIMIT else f" (the first {UNAUDITED_LIMIT})"
    return (
        f"{len(unaudited)} change(s) to governed tables without an audit event in their "
        f"transaction{more}"
    )


def unaudited_changes(limit: int = 0) -> list[dict[str, Any]]:
    """Journaled changes of governed tables (compliance.guards) whose transaction wrote no audit
    event, oldest first: what a disabled guard or a hand-declared actor let through."""
    changes = GovernedChange.objects.all()
    # Events removed by retention (sealed in an archive) take their transactions with them:
    # only changes after the oldest event still here are reconciled.
    first_seq, first_at = AuditEvent.objects.order_by("seq").values_list(
        "seq", "timestamp"
    ).first() or (1, None)
    if first_seq > 1 and first_at is not None:
        changes = changes.filter(at__gt=first_at)
    rows = (
        changes.annotate(audited=Exists(AuditEvent.objects.filter(txid=OuterRef("txid"))))
        .filter(audited=False)
        .order_by("id")
        .values_list("table_name", "row_id", "txid", "at", "operation", "actor")
    )
    return [
        {
            "table": table,
            "row_id": row_id,
            "txid": txid,
            "at": format_timestamp(at),
            "operation": operation,
            "actor": actor,
        }
        for table, row_id, txid, at, operation, actor in rows[: limit or UNAUDITED_LIMIT]
    ]
