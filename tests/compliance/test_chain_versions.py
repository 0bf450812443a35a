"""Chain versions 1 and 2 and redaction, on plain values: the server's rules
(compliance.chain) and the offline verifier's independent copy agree."""

from __future__ import annotations

import copy
from itertools import pairwise

import pytest

from compliance.chain import (
    HASHED_FIELDS,
    chain_verify,
    event_hash,
    personal_digest,
)
from compliance.models import GENESIS_HASH
from metaqore_client import evidence as offline


def make_chain(versions: list[int]) -> list[dict]:
    events, prev = [], GENESIS_HASH
    for seq, version in enumerate(versions, start=1):
        event = dict.fromkeys(HASHED_FIELDS, "")
        event.update(
            id=f"evt_{seq:016d}",
            seq=seq,
            timestamp="2026-01-01T00:00:00.000000Z",
            event_type="task.updated",
            organization="alpha",
            actor="user:jdoe",
            payload={"email": "jdoe@example.com", "n": seq},
            prev_hash=prev,
            chain_version=version,
            salt="ab" * 16 if version == 2 else "",
            erasure_id="",
        )
        if version == 2:
            event["personal_digest"] = personal_digest(event)
        event["hash"] = prev = event_hash(prev, event)
        events.append(event)
    return events


def redact(event: dict) -> None:
    event.update(actor="redacted", payload={}, salt="", erasure_id="ers_1", redacted=True)


def both_verify(events: list[dict]) -> tuple[bool, bool]:
    server = chain_verify(copy.deepcopy(events)).ok
    client = all(offline.event_problem(event) is None for event in events) and all(
        later["prev_hash"] == earlier["hash"] for earlier, later in pairwise(events)
    )
    assert offline.event_hash(events[0]) == event_hash(events[0]["prev_hash"], events[0])
    return server, client


@pytest.mark.parametrize("version", [1, 2])
def test_a_redacted_event_keeps_the_chain_verifying(version):
    events = make_chain([version] * 3)
    assert both_verify(events) == (True, True)
    redact(events[1])
    assert both_verify(events) == (True, True)


def test_a_redacted_version_2_event_still_commits_to_its_other_fields():
    events = make_chain([2, 2, 2])
    redact(events[1])
    events[1]["event_type"] = "forged"
    assert both_verify(events) == (False, False)


def test_an_unredacted_version_2_event_must_match_its_digest():
    events = make_chain([1, 2, 2])
    events[2]["payload"] = {"email": "someone@else"}
    assert both_verify(events) == (False, False)
    assert "personal fields" in offline.event_problem(events[2])


def test_the_version_never_goes_back():
    events = make_chain([1, 2, 1])
    result = chain_verify(copy.deepcopy(events))
    assert not result.ok and result.first_bad_seq == 3 and "version went back" in result.reason
