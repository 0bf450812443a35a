"""Reading the queue per organization: what the dashboard's Jobs page and the metrics show.

A job's *state* is its Procrastinate status made plain: ``queued`` (waiting, never run),
``retrying`` (waiting after a failed run), ``running``, ``succeeded``, ``dead`` (failed with no
retry left: the dead letters), ``cancelled``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection

STATES = ("queued", "retrying", "running", "succeeded", "dead", "cancelled")
# state -> SQL condition on procrastinate_jobs (no parameters)
_STATE_SQL = {
    "queued": "status = 'todo' AND attempts = 0",
    "retrying": "status = 'todo' AND attempts > 0",
    "running": "status = 'doing'",
    "succeeded": "status = 'succeeded'",
    "dead": "status = 'failed'",
    "cancelled": "status IN ('cancelled', 'aborting', 'aborted')",
}
_STATE_CASE = (
    "CASE "
    + " ".join(f"WHEN {condition} THEN '{state}'" for state, condition in _STATE_SQL.items())
    + " END"
)


def _json(value: Any) -> dict[str, Any]:
    """Django's cursor hands jsonb over as text (its JSONField decodes it)."""
    return json.loads(value) if isinstance(value, str) else (value or {})


def job_state(status: str, attempts: int) -> str:
    if status == "todo":
        return "retrying" if attempts else "queued"
    return {"doing": "running", "failed": "dead", "succeeded": "succeeded"}.get(status, "cancelled")


@dataclass
class JobRow:
    id: int
    task_name: str
    queue: str
    state: str
    attempts: int
    scheduled_at: datetime | None
    updated_at: datetime | None
    arguments: dict[str, Any]  # the task's arguments, without ``org``


@dataclass
class TaskCounts:
    task_name: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATES, 0))

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def org_job_counts(*, org: str) -> list[TaskCounts]:
    """Jobs of ``org`` (a schema name) by task name and state, task names sorted."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT task_name, {_STATE_CASE} AS state, count(*) "  # noqa: S608 (constants)
            "FROM procrastinate_jobs WHERE args->>'org' = %s GROUP BY 1, 2 ORDER BY 1",
            [org],
        )
        rows = cursor.fetchall()
    by_task: dict[str, TaskCounts] = {}
    for task_name, state, count in rows:
        by_task.setdefault(task_name, TaskCounts(task_name)).counts[state] = count
    return list(by_task.values())


def org_jobs(
    *, org: str, state: str | None = None, task_name: str | None = None, limit: int = 100
) -> list[JobRow]:
    """The latest jobs of ``org``, newest first, optionally of one state and task name."""
    conditions, params = ["j.args->>'org' = %s"], [org]
    if state:
        conditions.append(_STATE_SQL[state])
    if task_name:
        conditions.append("j.task_name = %s")
        params.append(task_name)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT j.id, j.task_name, j.queue_name, j.status, j.attempts, j.scheduled_at, "  # noqa: S608
            "j.args, (SELECT max(e.at) FROM procrastinate_events e WHERE e.job_id = j.id) "
            f"FROM procrastinate_jobs j WHERE {' AND '.join(conditions)} "
            "ORDER BY j.id DESC LIMIT %s",
            [*params, limit],
        )
        rows = cursor.fetchall()
    return [
        JobRow(
            id=job_id,
            task_name=name,
            queue=queue,
            state=job_state(status, attempts),
            attempts=attempts,
            scheduled_at=scheduled_at,
            updated_at=updated_at,
            arguments={k: v for k, v in _json(args).items() if k != "org"},
        )
        for job_id, name, queue, status, attempts, scheduled_at, args, updated_at in rows
    ]


def queue_depths() -> list[tuple[str, str, int]]:
    """(queue, state, count) of the jobs not finished, for every org: the metrics."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT queue_name, {_STATE_CASE} AS state, count(*) "  # noqa: S608 (constants)
            "FROM procrastinate_jobs WHERE status IN ('todo', 'doing') GROUP BY 1, 2"
        )
        return [(queue, state, count) for queue, state, count in cursor.fetchall()]


def job_outcomes() -> list[tuple[str, str, int]]:
    """(task name, state, count) of the finished jobs still kept (see the retention)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT task_name, {_STATE_CASE} AS state, count(*) "  # noqa: S608 (constants)
            "FROM procrastinate_jobs WHERE status NOT IN ('todo', 'doing') GROUP BY 1, 2"
        )
        return [(task, state, count) for task, state, count in cursor.fetchall()]


def latest_job_states(
    *, org: str, task_name: str, argument: str, values: list[str]
) -> dict[str, str]:
    """The state of the latest ``task_name`` job of ``org`` for each of ``values`` of its
    ``argument`` (a page showing its rows' jobs: an erasure's redaction); one query."""
    if not values:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            # by output column, so the statement holds with server-side binding too
            "SELECT DISTINCT ON (1) args->>%s, status, attempts FROM procrastinate_jobs "
            "WHERE args->>'org' = %s AND task_name = %s AND args->>%s = ANY(%s) "
            "ORDER BY 1, id DESC",
            [argument, org, task_name, argument, list(values)],
        )
        return {value: job_state(status, attempts) for value, status, attempts in cursor}
