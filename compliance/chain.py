"""The hash chain, as plain functions over plain values (no database access here).

Canonical form of an event (what is hashed and what JSONL exports contain):

- the fields in ``HASHED_FIELDS``: strings as stored, ``seq`` an integer, ``timestamp`` in UTC
  as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (always 6 fraction digits), ``payload`` a JSON object;
- serialized with ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
  (no NaN/Infinity), encoded as UTF-8;
- ``hash = sha256(prev_hash + canonical_json).hexdigest()``; seq 1 chains from ``GENESIS_HASH``.

Chain version 2 (every event written since the migration that added it; older ones keep
version 1, and a version never goes back): the ``PERSONAL_FIELDS`` (actor, agent_name,
resource_id, payload) are not hashed directly but through
``personal_digest = sha256(canonical_json({"salt": salt, actor, agent_name, resource_id,
payload}))``, and the hashed body is the other ``HASHED_FIELDS`` plus ``"chain_version": 2``
and ``"personal_digest"``. An erasure (``compliance.erasure``) blanks the personal fields and
the salt and sets ``erasure_id``: the stored digest still links the event into the chain, and
without the salt it cannot be matched against guessed values. A redacted version-1 event keeps
its stored hash: its link to both neighbours is still checked, its content no longer can be.

A verifier in any language can recompute the chain from a JSONL export with these rules.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from compliance.models import GENESIS_HASH

HASHED_FIELDS = (
    "id",
    "seq",
    "timestamp",
    "event_type",
    "organization",
    "actor",
    "agent_name",
    "provider",
    "task_type",
    "project_id",
    "resource_type",
    "resource_id",
    "request_id",
    "payload",
)
PERSONAL_FIELDS = ("actor", "agent_name", "resource_id", "payload")
CHAIN_VERSION = 2  # of the events audit_record writes
# Every stored field, in the order exports and the API present them.
EVENT_FIELDS = (
    *HASHED_FIELDS,
    "prev_hash",
    "hash",
    "chain_version",
    "personal_digest",
    "salt",
    "erasure_id",
)

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_LARGEST_EXACT_FLOAT = 2.0**53


def format_timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def canonical_json(value: Any) -> str:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def _parse_float(text: str) -> float | int:
    number = float(text)
    # jsonb prints 1e+16 as 10000000000000000, which reads back as an int: store it as one.
    if number.is_integer() and abs(number) >= _LARGEST_EXACT_FLOAT:
        return int(number)
    return number


def normalize_payload(payload: Mapping[str, Any] | None) -> dict[str, Any]:
    """A JSON-native copy of ``payload`` that survives a jsonb round trip unchanged.

    Dates, decimals and UUIDs become strings (DjangoJSONEncoder); NaN/Infinity are refused
    (ValueError), so a payload that could not be verified later is never written.
    """
    if not payload:
        return {}
    text = json.dumps(payload, cls=DjangoJSONEncoder, allow_nan=False)
    value = json.loads(text, parse_float=_parse_float)
    if not isinstance(value, dict):
        raise ValueError("An audit payload must be a JSON object.")
    return value


def new_salt() -> str:
    return secrets.token_hex(16)


def personal_digest(fields: Mapping[str, Any]) -> str:
    body = {"salt": fields["salt"], **{name: fields[name] for name in PERSONAL_FIELDS}}
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def event_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    """The hash of an event under its ``chain_version`` (1 when absent)."""
    version = fields.get("chain_version", 1)
    if version == 1:
        body = {name: fields[name] for name in HASHED_FIELDS}
    elif version == 2:
        body = {name: fields[name] for name in HASHED_FIELDS if name not in PERSONAL_FIELDS}
        body["chain_version"] = 2
        body["personal_digest"] = fields["personal_digest"]
    else:
        raise ValueError(f"unknown chain version {version!r}")
    text = prev_hash + canonical_json(body)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _finish(data: dict[str, Any]) -> dict[str, Any]:
    data["timestamp"] = format_timestamp(data["timestamp"])
    data["redacted"] = bool(data.get("erasure_id"))
    return data


def event_as_dict(event: Any) -> dict[str, Any]:
    """The canonical dict of an AuditEvent instance (all stored fields, and ``redacted``)."""
    return _finish({name: getattr(event, name) for name in EVENT_FIELDS})


def row_as_dict(row: tuple) -> dict[str, Any]:
    """The canonical dict of a ``values_list(*EVENT_FIELDS)`` row."""
    return _finish(dict(zip(EVENT_FIELDS, row, strict=True)))


def event_check(event: Mapping[str, Any]) -> str | None:
    """Why ``event`` does not match its own hash (None: it does). Redacted events are checked
    through their stored digest (version 2) or taken as stored (version 1)."""
    redacted = bool(event.get("erasure_id") or event.get("redacted"))
    version = event.get("chain_version", 1)
    if redacted and version == 1:
        return None
    if version == 2 and not redacted and personal_digest(event) != event.get("personal_digest"):
        return "personal fields do not match their hashed digest"
    if event_hash(str(event.get("prev_hash")), event) != event.get("hash"):
        return "hash does not match the event's content"
    return None


@dataclass
class VerifyResult:
    ok: bool
    events_checked: int
    first_bad_seq: int | None
    head_hash: str | None
    reason: str | None = None
    last_seq: int | None = None  # of the last intact event (not part of the API's answer)
    # Changes of governed tables whose transaction wrote no event: [{table, row_id, txid, at}]
    unaudited_changes: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("last_seq")
        return data


def chain_verify(
    events: Iterable[Mapping[str, Any]],
    *,
    start_seq: int = 1,
    start_hash: str | None = GENESIS_HASH,
    expected_count: int | None = None,
) -> VerifyResult:
    """Recompute the chain over ``events`` (canonical dicts, in the order given).

    Checks, per event: seq is the next one (a gap means a removed row, a smaller seq a reordered
    or duplicated one), prev_hash links to the previous event (or ``start_hash``; None accepts
    whatever the first event names), and the hash recomputes. With ``expected_count`` (the chain
    head's seq) an early end means events were removed from the tail.
    """
    expected_seq = start_seq
    prev_hash = start_hash
    head_hash = None
    checked = 0
    version = 1

    def bad(seq: int, reason: str) -> VerifyResult:
        return VerifyResult(False, checked, seq, head_hash, reason)

    for event in events:
        checked += 1
        try:
            seq = int(event["seq"])
        except (KeyError, TypeError, ValueError):
            return bad(expected_seq, "event without a valid seq")
        if seq != expected_seq:
            reason = (
                f"seq {expected_seq} is missing (found {seq})"
                if seq > expected_seq
                else f"seq {seq} is out of order (expected {expected_seq})"
            )
            return bad(expected_seq, reason)
        if prev_hash is not None and event.get("prev_hash") != prev_hash:
            return bad(seq, f"seq {seq}: prev_hash does not link to the previous event")
        try:
            if int(event.get("chain_version", 1)) < version:
                return bad(seq, f"seq {seq}: the chain version went back")
            version = int(event.get("chain_version", 1))
            problem = event_check(event)
        except (KeyError, TypeError, ValueError):
            return bad(seq, f"seq {seq}: malformed event")
        if problem:
            return bad(seq, f"seq {seq}: {problem}")
        prev_hash = head_hash = event["hash"]
        expected_seq += 1

    if expected_count is not None and expected_seq - 1 < expected_count:
        return bad(
            expected_seq,
            f"chain ends at seq {expected_seq - 1} but the head says {expected_count}",
        )
    return VerifyResult(True, checked, None, head_hash, last_seq=expected_seq - 1)


def jsonl_chain_verify(lines: Iterable[str]) -> VerifyResult:
    """Verify a JSONL export (one canonical event per line, in seq order).

    An export that starts at seq 1 must chain from the genesis hash; one that starts later (an
    export filtered by ``since``) is checked from its first event on. Any gap fails: a filtered
    export that skips events cannot be verified this way.
    """

    def events() -> Iterable[Mapping[str, Any]]:
        for line in lines:
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except ValueError:
                event = None
            yield event if isinstance(event, dict) else {}

    stream = iter(events())
    first = next(stream, None)
    if first is None:
        return VerifyResult(True, 0, None, None)
    try:
        start_seq = int(first["seq"])
    except (KeyError, TypeError, ValueError):
        return VerifyResult(False, 1, None, None, "the first line is not an audit event")
    start_hash = GENESIS_HASH if start_seq == 1 else None

    def chained() -> Iterable[Mapping[str, Any]]:
        yield first
        yield from stream

    return chain_verify(chained(), start_seq=start_seq, start_hash=start_hash)
