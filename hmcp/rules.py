"""HMCP rules as pure functions: sizes, levels and proposal evaluation (the validation gate and
drift: hmcp.validation_gate).

They take and return plain values, so they are tested without a database; the services gather
the inputs (the skill, the org's hierarchy policy, which teachers are active specialists) and
apply the results.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

SPECIALIST_TEACHER_PREFIX = "specialist:"
LEVEL_PATTERN = re.compile(r"level_([1-9][0-9]{0,2})")
_SIZE_PATTERN = re.compile(r"(\d+(?:\.\d+)?)\s*([kmbt]?)(?:_?params)?", re.IGNORECASE)
_MULTIPLIERS = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "t": 10**12}


def parse_size(value: str | int) -> int:
    """A parameter budget: ``"200M_params"`` → 200_000_000, ``"1.5B_params"`` →
    1_500_000_000, ``"750K"`` → 750_000, ``5000`` → 5000. Raises ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a size")
    if isinstance(value, int):
        if value <= 0:
            raise ValueError(f"{value} is not a positive size")
        return value
    match = _SIZE_PATTERN.fullmatch(str(value).strip())
    if match is None:
        raise ValueError(f"'{value}' is not a size such as '200M_params' or '1.5B_params'")
    number, unit = match.groups()
    size = round(float(number) * _MULTIPLIERS[unit.lower()])
    if size <= 0:
        raise ValueError(f"'{value}' is not a positive size")
    return size


def level_number(identifier: str) -> int | None:
    match = LEVEL_PATTERN.fullmatch(identifier or "")
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class Level:
    identifier: str  # level_1, level_2, …
    number: int
    name: str
    max_size: str
    max_parameters: int
    can_spawn: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_levels(raw: Any) -> dict[str, Level]:
    """``{"level_1": {"name", "max_size", "can_spawn"}, …}`` → Levels; ValueError says why not.
    Levels are numbered from 1 without gaps: a child of level_n lives at level_n+1."""
    if not isinstance(raw, dict) or not raw:
        raise ValueError("levels must be a non-empty object such as {'level_1': {...}}")
    levels = {}
    for identifier, spec in raw.items():
        number = level_number(identifier)
        if number is None:
            raise ValueError(f"'{identifier}' is not a level identifier (level_1, level_2, …)")
        if not isinstance(spec, dict):
            raise ValueError(f"{identifier} must be an object with name, max_size and can_spawn")
        name, can_spawn = spec.get("name"), spec.get("can_spawn", False)
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{identifier} needs a name")
        if not isinstance(can_spawn, bool):
            raise ValueError(f"{identifier}.can_spawn must be true or false")
        try:
            max_parameters = parse_size(spec.get("max_size", ""))
        except ValueError as exc:
            raise ValueError(f"{identifier}.max_size: {exc}") from exc
        levels[identifier] = Level(
            identifier, number, name.strip(), str(spec["max_size"]), max_parameters, can_spawn
        )
    numbers = sorted(level.number for level in levels.values())
    if numbers != list(range(1, len(numbers) + 1)):
        raise ValueError("levels must be numbered level_1, level_2, … without gaps")
    return dict(sorted(levels.items(), key=lambda item: item[1].number))


@dataclass(frozen=True)
class HierarchyRules:
    """The part of the org's hierarchy policy that proposals are evaluated against."""

    chaining_depth: int
    levels: dict[str, Level]
    min_confidence: float
    require_task_isolation: bool

    @property
    def top_level(self) -> Level | None:
        return next(iter(self.levels.values()), None)

    def level_below(self, level: Level) -> Level | None:
        return self.levels.get(f"level_{level.number + 1}")


@dataclass(frozen=True)
class SkillFacts:
    skill_id: str
    max_specialist_size_mb: float
    allowed_teachers: tuple[str, ...]


@dataclass(frozen=True)
class ParentFacts:
    """The parent specialist a proposal names (``parent_specialist_id``)."""

    id: str
    level: str
    lifecycle: str


@dataclass(frozen=True)
class Proposal:
    skill_id: str
    teachers: tuple[str, ...]
    requested_size_mb: float
    parameter_count: int
    confidence: float | None
    task_isolation_passed: bool
    parent_level_identifier: str | None = None
    parent_specialist_id: str | None = None


@dataclass(frozen=True)
class Reason:
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass
class Evaluation:
    reasons: list[Reason]
    target_level: Level | None
    spawn_decision: dict[str, Any]

    @property
    def allowed(self) -> bool:
        return not self.reasons

    @property
    def codes(self) -> list[str]:
        return [reason.code for reason in self.reasons]


def _teacher_reasons(
    proposal: Proposal, skill: SkillFacts, active_specialist_skills: frozenset[str]
) -> list[Reason]:
    reasons = []
    allowed = ", ".join(skill.allowed_teachers) or "none"
    for teacher in proposal.teachers:
        if teacher in skill.allowed_teachers:
            continue
        if teacher.startswith(SPECIALIST_TEACHER_PREFIX):
            taught_skill = teacher.removeprefix(SPECIALIST_TEACHER_PREFIX)
            if taught_skill in active_specialist_skills:
                continue
            reasons.append(
                Reason(
                    "teacher_not_active_specialist",
                    f"Teacher '{teacher}' is not an active specialist: only ACTIVE specialists "
                    f"may teach, or a teacher allowed by skill '{skill.skill_id}' ({allowed}).",
                )
            )
            continue
        reasons.append(
            Reason(
                "teacher_not_allowed",
                f"Teacher '{teacher}' is not allowed for skill '{skill.skill_id}': allowed are "
                f"{allowed}, or specialist:<skill> of an active specialist.",
            )
        )
    return reasons


def _target_level(
    proposal: Proposal, rules: HierarchyRules, parent: ParentFacts | None
) -> tuple[Level | None, Level | None, list[Reason]]:
    """(parent level, target level, reasons) for the level part of a proposal."""
    reasons = []
    parent_level_id = proposal.parent_level_identifier
    if proposal.parent_specialist_id:
        if parent is None:
            reasons.append(
                Reason(
                    "parent_specialist_not_found",
                    f"Parent specialist '{proposal.parent_specialist_id}' does not exist.",
                )
            )
        else:
            if parent.lifecycle != "active":
                reasons.append(
                    Reason(
                        "parent_specialist_not_active",
                        f"Parent specialist {parent.id} is {parent.lifecycle}: only an active "
                        "specialist can spawn a child.",
                    )
                )
            if parent_level_id is None:
                parent_level_id = parent.level
            elif parent_level_id != parent.level:
                reasons.append(
                    Reason(
                        "parent_level_mismatch",
                        f"Parent specialist {parent.id} is at {parent.level}, not at "
                        f"{parent_level_id}.",
                    )
                )
    if parent_level_id is None and proposal.parent_specialist_id:
        return None, None, reasons  # a child of a parent that does not exist: no level
    if parent_level_id is None:
        top = rules.top_level
        if top is None:
            reasons.append(Reason("no_levels", "The hierarchy policy defines no levels."))
        return None, top, reasons

    parent_level = rules.levels.get(parent_level_id)
    if parent_level is None:
        known = ", ".join(rules.levels) or "none"
        reasons.append(
            Reason(
                "unknown_parent_level",
                f"Parent level '{parent_level_id}' is not a level of the hierarchy policy "
                f"(levels: {known}).",
            )
        )
        return None, None, reasons
    if not parent_level.can_spawn:
        reasons.append(
            Reason(
                "parent_cannot_spawn",
                f"Level {parent_level.identifier} ({parent_level.name}) cannot spawn child "
                "specialists.",
            )
        )
    target = rules.level_below(parent_level)
    if target is None:
        reasons.append(
            Reason(
                "no_next_level",
                f"There is no level below {parent_level.identifier}: the hierarchy ends there.",
            )
        )
    elif target.number > rules.chaining_depth:
        reasons.append(
            Reason(
                "chaining_depth_exceeded",
                f"A child at {target.identifier} would be {target.number} levels deep; the "
                f"chaining depth is {rules.chaining_depth}.",
            )
        )
    return parent_level, target, reasons


def _spawn_reasons(proposal: Proposal, rules: HierarchyRules) -> list[Reason]:
    reasons = []
    if proposal.confidence is None or proposal.confidence < rules.min_confidence:
        shown = "missing" if proposal.confidence is None else f"{proposal.confidence:g}"
        reasons.append(
            Reason(
                "confidence_below_threshold",
                f"Spawn confidence {shown} is below the threshold {rules.min_confidence:g}.",
            )
        )
    if rules.require_task_isolation and not proposal.task_isolation_passed:
        reasons.append(
            Reason(
                "task_not_isolated",
                "The task is not functionally separable (task_isolation_passed is false): a "
                "child specialist needs an isolated task.",
            )
        )
    return reasons


# The rules that decide whether a child may be spawned (spawn_decision.allowed).
SPAWN_CODES = frozenset(
    {
        "parent_specialist_not_found",
        "parent_specialist_not_active",
        "parent_level_mismatch",
        "unknown_parent_level",
        "parent_cannot_spawn",
        "no_next_level",
        "chaining_depth_exceeded",
        "confidence_below_threshold",
        "task_not_isolated",
    }
)


def evaluate_proposal(
    proposal: Proposal,
    *,
    skill: SkillFacts | None,
    rules: HierarchyRules,
    active_specialist_skills: frozenset[str] = frozenset(),
    parent: ParentFacts | None = None,
) -> Evaluation:
    """Every rule a proposal breaks, in a stable order (all of them, not just the first).
    Rules that need the skill (teachers, the skill's size budget) are skipped when the skill
    is unknown; ``unknown_skill`` says why."""
    reasons: list[Reason] = []
    if skill is None:
        reasons.append(
            Reason(
                "unknown_skill",
                f"Skill '{proposal.skill_id}' is not in the skill registry (registry_only): "
                "an org_admin must register it first.",
            )
        )
    else:
        reasons += _teacher_reasons(proposal, skill, active_specialist_skills)
        if proposal.requested_size_mb > skill.max_specialist_size_mb:
            reasons.append(
                Reason(
                    "size_over_skill_budget",
                    f"Requested size {proposal.requested_size_mb:g} MB exceeds the budget of "
                    f"skill '{skill.skill_id}' ({skill.max_specialist_size_mb:g} MB).",
                )
            )

    parent_level, target, level_reasons = _target_level(proposal, rules, parent)
    reasons += level_reasons
    if target is not None and proposal.parameter_count > target.max_parameters:
        reasons.append(
            Reason(
                "size_over_level_budget",
                f"parameter_count {proposal.parameter_count:,} exceeds the budget of "
                f"{target.identifier} ({target.name}): {target.max_size} "
                f"({target.max_parameters:,} parameters).",
            )
        )
    is_child = bool(proposal.parent_level_identifier or proposal.parent_specialist_id)
    if is_child:
        reasons += _spawn_reasons(proposal, rules)
    spawn_decision = {
        "required": is_child,
        "allowed": not any(r.code in SPAWN_CODES for r in reasons) if is_child else None,
        "parent_level": parent_level.identifier
        if parent_level
        else proposal.parent_level_identifier,
        "can_spawn": parent_level.can_spawn if parent_level else None,
        "confidence": proposal.confidence,
        "min_confidence": rules.min_confidence,
        "task_isolation_passed": proposal.task_isolation_passed,
        "require_task_isolation": rules.require_task_isolation,
    }
    return Evaluation(reasons=reasons, target_level=target, spawn_decision=spawn_decision)
