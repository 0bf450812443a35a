"""What a proposed policy would have done: replay the decision log under it.

Each recorded decision keeps its inputs (the conflicts detected and what they match on, the
declaring actor's privilege); the replay runs the same ``governance.rules.evaluate`` that
enforcement runs, with the waivers that were in force at each decision's time. Reads only:
no row, no audit event, no lock.

Also the per-rule report of the policy in force (matched / blocked / would-have-blocked).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.utils import timezone

from access.actors import Actor
from access.permissions import actor_can
from governance.models import AdmissionDecision, GovernancePolicy, Waiver
from governance.policy import authored_rules
from governance.rules import ConflictFacts, WaiverTerms, evaluate
from metaqore_site.errors import GovernanceForbidden

DEFAULT_LAST = 1000
MAX_DECISIONS = 10_000
MAX_EXAMPLES = 20
BY_RULE_KEYS = ("matched", "blocked", "warned", "dryrun", "auto_resolved")
ACTION_KEY = {"enforce": "blocked", "warn": "warned", "dryrun": "dryrun"}
ACTION_KEY["auto_resolve"] = "auto_resolved"


def decision_facts(decision: AdmissionDecision) -> list[ConflictFacts]:
    return [
        ConflictFacts(
            conflict_type=entry["conflict_type"],
            severity=entry["severity"],
            project_id=decision.project_id,
            artifact_type=decision.artifact_type,
            agent=decision.agent,
            paths=tuple(entry.get("paths") or decision.file_paths or ()),
        )
        for entry in decision.conflicts
    ]


@dataclass
class WaiverWindow:
    terms: WaiverTerms
    created_at: datetime
    ends_at: datetime  # expiry, or revocation when earlier

    def in_force_at(self, when: datetime) -> bool:
        return self.created_at <= when < self.ends_at


def waiver_windows(start: datetime, end: datetime) -> list[WaiverWindow]:
    """Every waiver in force at some moment of [start, end], in the order enforcement uses."""
    windows = []
    rows = Waiver.objects.filter(created_at__lte=end, expires_at__gt=start).order_by(
        "created_at", "id"
    )
    for waiver in rows:
        ends = waiver.expires_at
        if waiver.revoked_at is not None:
            ends = min(ends, waiver.revoked_at)
        if ends > start:
            windows.append(
                WaiverWindow(WaiverTerms(waiver.id, waiver.match), waiver.created_at, ends)
            )
    return windows


def replay(
    decision: AdmissionDecision,
    *,
    mode: str,
    rules: Sequence[dict],
    windows: Iterable[WaiverWindow],
):
    """The outcome ``decision`` would have had under (mode, rules), and its verdicts."""
    waivers = [w.terms for w in windows if w.in_force_at(decision.created_at)]
    privileged = decision.actor if decision.actor_privileged else None
    evaluation = evaluate(
        decision_facts(decision), mode=mode, rules=rules, waivers=waivers, privileged=privileged
    )
    outcome = "blocked" if decision.held else evaluation.outcome
    return outcome, evaluation.verdicts


def decisions_to_replay(*, since: datetime | None, last: int | None) -> list[AdmissionDecision]:
    queryset = AdmissionDecision.objects.order_by("-created_at", "-id")
    if since is not None:
        queryset = queryset.filter(created_at__gte=since)
    limit = min(last or (MAX_DECISIONS if since is not None else DEFAULT_LAST), MAX_DECISIONS)
    return list(reversed(queryset[:limit]))


def policy_simulate(
    *,
    mode: str,
    rules: Sequence[dict],
    since: datetime | None = None,
    last: int | None = None,
    examples: int = MAX_EXAMPLES,
) -> dict[str, Any]:
    """Replay the newest ``last`` decisions (or those since ``since``; at most 10,000) under
    ``mode`` and ``rules`` (already validated and authored). Writes nothing."""
    decisions = decisions_to_replay(since=since, last=last)
    by_rule = {rule["id"]: dict.fromkeys(BY_RULE_KEYS, 0) for rule in rules}
    changed = newly_blocked = newly_allowed = blocked_before = blocked_after = 0
    shown: list[dict] = []
    windows = waiver_windows(decisions[0].created_at, decisions[-1].created_at) if decisions else []
    for decision in decisions:
        outcome, verdicts = replay(decision, mode=mode, rules=rules, windows=windows)
        for verdict in verdicts:
            counts = by_rule.get(verdict.rule_id or "")
            if counts is None:
                continue
            counts["matched"] += 1
            key = ACTION_KEY.get(verdict.action)
            if key:
                counts[key] += 1
        before = decision.outcome
        blocked_before += before == "blocked"
        blocked_after += outcome == "blocked"
        if outcome == before:
            continue
        changed += 1
        newly_blocked += outcome == "blocked"
        newly_allowed += before == "blocked"
        if len(shown) < examples:
            shown.append(
                {
                    "decision_id": decision.id,
                    "created_at": decision.created_at,
                    "project_id": decision.project_id,
                    "artifact_id": decision.artifact_id,
                    "before": before,
                    "after": outcome,
                    "rules": sorted({v.rule_id for v in verdicts if v.rule_id}),
                }
            )
    return {
        "decisions": len(decisions),
        "changed": changed,
        "newly_blocked": newly_blocked,
        "newly_allowed": newly_allowed,
        "blocked_before": blocked_before,
        "blocked_after": blocked_after,
        "by_rule": by_rule,
        "examples": shown,
        "first_decision_at": decisions[0].created_at if decisions else None,
        "last_decision_at": decisions[-1].created_at if decisions else None,
    }


def policy_simulate_change(
    *,
    actor: Actor,
    mode: str | None = None,
    rules: Any = None,
    since: datetime | None = None,
    last: int | None = None,
) -> dict[str, Any]:
    """Simulate the current policy with ``mode`` and/or ``rules`` replaced (rules validated and
    authored as saving them would), for roles that may simulate."""
    if not actor_can(actor, "simulate_policy") or actor.is_agent:
        raise GovernanceForbidden(
            "Only an org_admin or compliance_officer user may simulate the policy.",
            code="role_forbidden",
        )
    current = GovernancePolicy.load()
    proposed_rules = (
        current.rules
        if rules is None
        else authored_rules(rules, actor=actor, previous=current.rules)
    )
    result = policy_simulate(
        mode=mode or current.mode, rules=proposed_rules, since=since, last=last
    )
    result["policy"] = {"mode": mode or current.mode, "rules": proposed_rules}
    result["current_revision"] = current.revision
    return result


_REPORT_SQL = """
SELECT entry->>'rule_id', entry->>'action', count(*)
FROM {table} decision, jsonb_array_elements(decision.conflicts) entry
WHERE decision.created_at >= %s AND cardinality(decision.rule_ids) > 0
  AND entry->>'rule_id' IS NOT NULL
GROUP BY 1, 2
"""


def rules_report(rules: Sequence[dict], *, days: int = 7, now: datetime | None = None) -> dict:
    """Per rule of the policy: conflicts it matched in the last ``days`` days, how many it
    blocked, and how many it would have blocked (dry run: what enforcing would have done)."""
    since = (now or timezone.now()) - timedelta(days=days)
    table = connection.ops.quote_name(AdmissionDecision._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(_REPORT_SQL.format(table=table), [since])
        rows = cursor.fetchall()
    counts: dict[str, Counter] = {}
    for rule_id, action, n in rows:
        counts.setdefault(rule_id, Counter())[action] += n
    report = {}
    for rule in rules:
        seen = counts.get(rule["id"], Counter())
        report[rule["id"]] = {
            "matched": sum(seen.values()),
            "blocked": seen["enforce"],
            "would_have_blocked": seen["enforce"] + seen["dryrun"],
            "warned": seen["warn"],
            "dryrun": seen["dryrun"],
            "auto_resolved": seen["auto_resolve"],
        }
    return {"days": days, "since": since, "rules": report}
