"""Reads of the audit trail: chain verification against the database."""

from __future__ import annotations

from collections.abc import Iterator

from django.db import connection, transaction

from compliance.chain import EVENT_FIELDS, VerifyResult, chain_verify, row_as_dict
from compliance.models import GENESIS_HASH, AuditChainHead, AuditEvent

VERIFY_CHUNK_SIZE = 5000


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
        )
    return result
