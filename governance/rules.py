"""Policy as rules: what each detected conflict gets, as a pure function.

A rule is ``{"id", "description", "match": {...}, "action"}``; the first rule whose ``match``
fits a conflict decides its action, and with no match the org's ``mode`` decides as it always
did. An active waiver that matches a conflict comes before every rule. The same function
(``evaluate``) decides a live declaration and replays a recorded one in a simulation, so a
simulation cannot drift from what enforcement really does.

No database access here: callers pass the rules, the waivers in force and the conflicts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from django.core.exceptions import ValidationError

SEVERITIES = ("low", "medium", "high", "critical")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
HIGH_SEVERITIES = frozenset({"high", "critical"})
AUTO_RESOLVABLE = frozenset({"low", "medium"})

ACTIONS = ("enforce", "warn", "dryrun", "auto_resolve")
WAIVED = "waived"  # the action of a conflict a waiver covers
MATCH_LIST_FIELDS = ("conflict_types", "project_ids", "artifact_types", "agents", "paths")
MATCH_FIELDS = (*MATCH_LIST_FIELDS, "min_severity")
RULE_FIELDS = ("id", "description", "match", "action")
# Set by the policy service, never by the client (sent back unchanged, they are ignored).
AUTHOR_FIELDS = ("author", "author_is_org_admin")
RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MAX_RULES = 100
MAX_MATCH_ITEMS = 100
MAX_ITEM_LENGTH = 200
OUTCOMES = ("accepted", "auto_resolved", "blocked", "accepted_with_warnings")


# --- validation --------------------------------------------------------------------------------


def _clean_match(match: Any, errors: dict[str, list[str]], prefix: str = "match") -> dict:
    if match is None:
        return {}
    if not isinstance(match, dict):
        errors[prefix] = ["Must be an object."]
        return {}
    cleaned: dict[str, Any] = {}
    for name in sorted(set(match) - set(MATCH_FIELDS)):
        errors[f"{prefix}.{name}"] = [f"Unknown field; allowed: {', '.join(MATCH_FIELDS)}."]
    for name in MATCH_LIST_FIELDS:
        if name not in match:
            continue
        value = match[name]
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            errors[f"{prefix}.{name}"] = ["Must be a list of strings."]
            continue
        if not value:
            errors[f"{prefix}.{name}"] = ["Must not be empty (omit the field to match all)."]
            continue
        if len(value) > MAX_MATCH_ITEMS:
            errors[f"{prefix}.{name}"] = [f"At most {MAX_MATCH_ITEMS} entries."]
            continue
        if any(not item.strip() or len(item) > MAX_ITEM_LENGTH or "\x00" in item for item in value):
            errors[f"{prefix}.{name}"] = [
                f"Entries must be non-blank strings of at most {MAX_ITEM_LENGTH} characters."
            ]
            continue
        if name == "conflict_types" and "*" in value and len(value) > 1:
            errors[f"{prefix}.{name}"] = ['"*" matches every type: use it alone.']
            continue
        cleaned[name] = list(dict.fromkeys(item.strip() for item in value))
    if "min_severity" in match:
        severity = match["min_severity"]
        if severity not in SEVERITIES:
            errors[f"{prefix}.min_severity"] = [f"Must be one of {', '.join(SEVERITIES)}."]
        else:
            cleaned["min_severity"] = severity
    return cleaned


class RulesInvalid(ValidationError):
    """Invalid rules: ``errors`` maps each bad rule (its id, or ``#n``) to its bad fields."""

    def __init__(self, errors: dict[str, dict[str, list[str]]]):
        self.errors = errors
        flat = [
            f"{rule}: {name}: {' '.join(messages)}"
            for rule, fields in errors.items()
            for name, messages in fields.items()
        ]
        super().__init__({"rules": flat})


def clean_match(match: Any) -> dict:
    """A waiver's match, validated (ValidationError with one entry per bad field)."""
    errors: dict[str, list[str]] = {}
    cleaned = _clean_match(match, errors, prefix="match")
    if errors:
        raise ValidationError(errors)
    return cleaned


def clean_rules(rules: Any) -> list[dict]:
    """Validate an ordered list of rules; errors name the rule (its id, or ``#n``) and field.

    Returns the rules with only their own fields (the author fields are the service's)."""
    if not isinstance(rules, list):
        raise RulesInvalid({"rules": {"rules": ["Must be a list of rules."]}})
    if len(rules) > MAX_RULES:
        raise RulesInvalid({"rules": {"rules": [f"At most {MAX_RULES} rules."]}})
    errors: dict[str, dict[str, list[str]]] = {}
    cleaned: list[dict] = []
    seen: set[str] = set()
    for index, rule in enumerate(rules, start=1):
        rule_errors: dict[str, list[str]] = {}
        if not isinstance(rule, dict):
            errors[f"#{index}"] = {"rule": ["Must be an object."]}
            continue
        rule_id = rule.get("id")
        name = rule_id if isinstance(rule_id, str) and RULE_ID.match(rule_id) else f"#{index}"
        for unknown in sorted(set(rule) - set(RULE_FIELDS) - set(AUTHOR_FIELDS)):
            rule_errors[unknown] = [f"Unknown field; allowed: {', '.join(RULE_FIELDS)}."]
        if not isinstance(rule_id, str) or not RULE_ID.match(rule_id):
            rule_errors["id"] = [
                "Required: a slug of lowercase letters, digits, '-' or '_' (at most 64)."
            ]
        elif rule_id in seen:
            rule_errors["id"] = [f"Duplicate rule id '{rule_id}'."]
        else:
            seen.add(rule_id)
        description = rule.get("description", "")
        if not isinstance(description, str) or len(description) > 1000 or "\x00" in description:
            rule_errors["description"] = ["Must be text of at most 1000 characters."]
            description = ""
        action = rule.get("action")
        if action not in ACTIONS:
            rule_errors["action"] = [f"Required: one of {', '.join(ACTIONS)}."]
        match = _clean_match(rule.get("match", {}), rule_errors)
        if rule_errors:
            errors[name] = rule_errors
            continue
        cleaned.append(
            {"id": rule_id, "description": description, "match": match, "action": action}
        )
    if errors:
        raise RulesInvalid(errors)
    return cleaned


def with_authors(rules: list[dict], *, previous: Iterable[dict], author: str, is_org_admin: bool):
    """Stamp each rule with who wrote it: a rule whose match and action did not change keeps
    its author; a new or changed one is the current actor's."""
    before = {rule["id"]: rule for rule in previous}
    stamped = []
    for rule in rules:
        old = before.get(rule["id"])
        if old is not None and (old.get("match"), old.get("action")) == (
            rule["match"],
            rule["action"],
        ):
            keep = {name: old.get(name) for name in AUTHOR_FIELDS}
            stamped.append({**rule, **keep})
        else:
            stamped.append({**rule, "author": author, "author_is_org_admin": is_org_admin})
    return stamped


# --- matching and evaluation --------------------------------------------------------------------


@dataclass(frozen=True)
class ConflictFacts:
    """What a rule or waiver can match on: one detected conflict and its declaration."""

    conflict_type: str
    severity: str
    project_id: str
    artifact_type: str
    agent: str  # who declared (``agent:coder``, ``user:adam``)
    paths: tuple[str, ...] = ()


def agent_name(value: str) -> str:
    return value.removeprefix("agent:")


def matches(match: dict, facts: ConflictFacts) -> bool:
    """Omitted fields match everything; a listed field matches when any entry fits."""
    types = match.get("conflict_types")
    if types and types != ["*"] and facts.conflict_type not in types:
        return False
    minimum = match.get("min_severity")
    if minimum and SEVERITY_RANK.get(facts.severity, 0) < SEVERITY_RANK[minimum]:
        return False
    projects = match.get("project_ids")
    if projects and facts.project_id not in projects:
        return False
    artifact_types = match.get("artifact_types")
    if artifact_types and not any(fnmatchcase(facts.artifact_type, g) for g in artifact_types):
        return False
    agents = match.get("agents")
    if agents and agent_name(facts.agent) not in {agent_name(a) for a in agents}:
        return False
    paths = match.get("paths")
    return not paths or any(fnmatchcase(p, g) for p in facts.paths for g in paths)


@dataclass(frozen=True)
class WaiverTerms:
    """A waiver as the evaluation needs it (in force at the decision's time)."""

    id: str
    match: dict


@dataclass(frozen=True)
class Verdict:
    action: str  # enforce | warn | dryrun | auto_resolve | waived
    rule_id: str | None = None
    waiver_id: str | None = None
    resolver: str | None = None  # who resolves it at once (auto_resolve)
    rule_author: str | None = None
    note: str = ""


@dataclass
class Evaluation:
    outcome: str
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def blocked(self) -> bool:
        return self.outcome == "blocked"


def _verdict(
    facts: ConflictFacts,
    *,
    mode: str,
    rules: Sequence[dict],
    waivers: Sequence[WaiverTerms],
    privileged: str | None,
) -> Verdict:
    for waiver in waivers:
        if matches(waiver.match, facts):
            return Verdict(WAIVED, waiver_id=waiver.id, resolver=f"waiver:{waiver.id}")
    for rule in rules:
        if not matches(rule.get("match") or {}, facts):
            continue
        action, author = rule["action"], rule.get("author")
        if action != "auto_resolve":
            return Verdict(action, rule_id=rule["id"], rule_author=author)
        if facts.severity in HIGH_SEVERITIES and not rule.get("author_is_org_admin"):
            return Verdict(
                "enforce",
                rule_id=rule["id"],
                rule_author=author,
                note="auto_resolve of a HIGH/CRITICAL conflict needs a rule written by an "
                "org_admin (separation of duties): enforced instead",
            )
        return Verdict(
            action, rule_id=rule["id"], resolver=f"policy:{rule['id']}", rule_author=author
        )
    # No rule: the mode decides, as before rules existed.
    resolver = privileged or ("policy:adaptive" if mode == "adaptive" else None)
    if resolver and facts.severity in AUTO_RESOLVABLE:
        return Verdict("auto_resolve", resolver=resolver)
    return Verdict("warn" if mode == "playground" else "enforce")


def outcome_of(actions: Iterable[str]) -> str:
    present = set(actions)
    if "enforce" in present:
        return "blocked"
    if "warn" in present:
        return "accepted_with_warnings"
    if "auto_resolve" in present:
        return "auto_resolved"
    return "accepted"  # no conflict, or every one waived or in dry run


def evaluate(
    conflicts: Sequence[ConflictFacts],
    *,
    mode: str,
    rules: Sequence[dict],
    waivers: Sequence[WaiverTerms] = (),
    privileged: str | None = None,
) -> Evaluation:
    """The verdict on each conflict and the declaration's outcome.

    ``privileged`` is the declaring actor when its key is privileged (it resolves LOW/MEDIUM
    conflicts no rule matched, as before rules existed)."""
    verdicts = [
        _verdict(facts, mode=mode, rules=rules, waivers=waivers, privileged=privileged)
        for facts in conflicts
    ]
    return Evaluation(outcome_of(v.action for v in verdicts), verdicts)
