"""Discovery: find work an agent keeps repeating, the candidates for a specialist.

The org's recent tasks are grouped by (assigned agent, normalized title). ``normalize_title``
turns titles that differ only in their data into one pattern:

1. lowercase;
2. quoted strings (``'…'``, ``"…"``, `` `…` ``, ``“…”``) → ``<str>`` (an apostrophe inside a
   word, as in ``don't``, is not a quote);
3. UUIDs → ``<uuid>``;
4. prefixed public ids (``task_3f9c0a…``, ``art_…``: letters, ``_``, 8+ hex) → ``<id>``;
5. other hex ids of 8+ characters with at least one digit (hashes, commit ids) → ``<id>``;
6. numbers (digit runs, with ``.``/``,``/``:`` between digits: ``3``, ``2.5``, ``10:30``) →
   ``<n>``, also inside words (``col7`` → ``col<n>``);
7. whitespace runs → one space, trimmed; at most 200 characters.

So ``Clean column 7 of 'orders.csv'`` and ``clean column 12 of "users.csv"`` are both
``clean column <n> of <str>``.

Bounded and indexed: one query over the ``created_at`` index, newest first, at most
``MAX_TASKS_SCANNED`` tasks (``truncated`` says when the window held more); one query on the
skills' ``task_patterns`` GIN index for ``existing_skill``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone
from django.utils.text import slugify

from hmcp.models import DiscoveryRun, HierarchyPolicy, Skill
from projects.models import Task

MAX_TASKS_SCANNED = 100_000
MAX_RESULTS = 200
EXAMPLES_PER_PATTERN = 3
MAX_PATTERN_LENGTH = 200
RUNS_KEPT = 30  # stored discovery runs per org

_QUOTED = re.compile(r"""(?<!\w)'[^']*'(?!\w)|"[^"]*"|`[^`]*`|“[^”]*”""")
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
_PREFIXED_ID = re.compile(r"\b[a-z]+_[0-9a-f]{8,}\b")
_HEX_ID = re.compile(r"\b(?=[a-f]*[0-9])[0-9a-f]{8,}\b")
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_SPACE = re.compile(r"\s+")
_PLACEHOLDER = re.compile(r"<(?:str|uuid|id|n)>")


def normalize_title(title: str) -> str:
    text = title.lower()
    text = _QUOTED.sub("<str>", text)
    text = _UUID.sub("<uuid>", text)
    text = _PREFIXED_ID.sub("<id>", text)
    text = _HEX_ID.sub("<id>", text)
    text = _NUMBER.sub("<n>", text)
    return _SPACE.sub(" ", text).strip()[:MAX_PATTERN_LENGTH]


def suggested_skill_id(pattern: str) -> str:
    """A slug for registering the pattern as a skill: its words without the placeholders."""
    return slugify(_PLACEHOLDER.sub(" ", pattern))[:64].strip("-") or "skill"


@dataclass
class Discovery:
    agent: str
    pattern: str
    count: int
    first_seen: datetime
    last_seen: datetime
    examples: list[str] = field(default_factory=list)
    existing_skill: str | None = None

    @property
    def suggested_skill_id(self) -> str:
        return suggested_skill_id(self.pattern)


@dataclass
class DiscoveryReport:
    results: list[Discovery]
    since: datetime
    days: int
    min_repetitions: int
    scanned_tasks: int
    truncated: bool


def specialists_discover(
    *,
    min_repetitions: int | None = None,
    days: int | None = None,
    max_tasks: int = MAX_TASKS_SCANNED,
) -> DiscoveryReport:
    """Groups of at least ``min_repetitions`` tasks of one agent with one title pattern in the
    last ``days`` days (defaults: the hierarchy policy's, 70 and 30), most repeated first."""
    policy = HierarchyPolicy.load()
    min_repetitions = min_repetitions or policy.discovery_min_repetitions
    days = days or policy.discovery_days
    since = timezone.now() - timedelta(days=days)
    rows = (
        Task.objects.filter(created_at__gte=since)
        .exclude(assigned_to="")
        .order_by("-created_at")
        .values_list("assigned_to", "title", "created_at")[: max_tasks + 1]
    )
    groups: dict[tuple[str, str], Discovery] = {}
    scanned, truncated = 0, False
    for agent, title, created_at in rows.iterator(chunk_size=5000):
        if scanned == max_tasks:  # the window holds more tasks than we scan
            truncated = True
            break
        scanned += 1
        key = (agent, normalize_title(title))
        group = groups.get(key)
        if group is None:
            groups[key] = Discovery(agent, key[1], 1, created_at, created_at, [title])
            continue
        group.count += 1
        group.first_seen = created_at  # rows come newest first
        if len(group.examples) < EXAMPLES_PER_PATTERN and title not in group.examples:
            group.examples.append(title)

    results = sorted(
        (group for group in groups.values() if group.count >= min_repetitions),
        key=lambda group: (-group.count, group.agent, group.pattern),
    )[:MAX_RESULTS]
    patterns = sorted({group.pattern for group in results})
    if patterns:
        owners: dict[str, str] = {}
        skills = Skill.objects.filter(task_patterns__has_any_keys=patterns).order_by("skill_id")
        for skill_id, skill_patterns in skills.values_list("skill_id", "task_patterns"):
            for pattern in skill_patterns:
                owners.setdefault(pattern, skill_id)
        for group in results:
            group.existing_skill = owners.get(group.pattern)
    return DiscoveryReport(
        results=results,
        since=since,
        days=days,
        min_repetitions=min_repetitions,
        scanned_tasks=scanned,
        truncated=truncated,
    )


def discovery_run_store() -> DiscoveryRun:
    """Run discovery with the hierarchy policy's defaults and keep the report (the latest
    ``RUNS_KEPT`` runs are kept)."""
    report = specialists_discover()
    run = DiscoveryRun.objects.create(
        days=report.days,
        min_repetitions=report.min_repetitions,
        scanned_tasks=report.scanned_tasks,
        truncated=report.truncated,
        results=[
            {
                "agent": group.agent,
                "pattern": group.pattern,
                "count": group.count,
                "examples": group.examples,
                "existing_skill": group.existing_skill,
                "suggested_skill_id": group.suggested_skill_id,
                "first_seen": group.first_seen.isoformat(),
                "last_seen": group.last_seen.isoformat(),
            }
            for group in report.results
        ],
    )
    stale = DiscoveryRun.objects.order_by("-ran_at", "-id").values_list("pk", flat=True)[RUNS_KEPT:]
    DiscoveryRun.objects.filter(pk__in=list(stale)).delete()
    return run
