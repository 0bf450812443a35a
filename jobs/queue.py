"""Background work: define a task, enqueue it in the caller's transaction, run it on a schedule.

Every background job runs on Procrastinate (``procrastinate.contrib.django``): a PostgreSQL
queue whose tables live in the public schema, next to the organizations. An *org task* runs in
one organization's schema: its job carries the schema name as the ``org`` argument, and the
worker enters that schema (``schema_context``) before calling the function.

Define (in ``<app>/tasks.py``, which the worker imports at start)::

    from jobs.queue import enqueue, every_org, org_task

    @org_task(name="compliance.checkpoint", retry=5)
    def checkpoint(*, reason: str) -> None:
        ...  # inside the org's schema: the ORM as in a request

Enqueue in the transaction of the change that causes it (the org is the connection's current
schema unless ``org=`` says otherwise); if the transaction rolls back, so does the job::

    with transaction.atomic():
        thing_update(...)
        enqueue(checkpoint, reason="rotation")

Run it for every organization on a schedule (``METAQORE_SCHEDULE_COMPLIANCE_CHECKPOINT``
overrides the cron line; ``off`` disables it)::

    every_org(checkpoint, schedule="compliance-checkpoint", default="0 * * * *", reason="hourly")
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django_tenants.utils import get_public_schema_name, schema_context
from procrastinate import BaseRetryStrategy, JobContext, RetryStrategy, exceptions, manager
from procrastinate import tasks as procrastinate_tasks
from procrastinate.contrib.django import app
from procrastinate.contrib.django.django_connector import DjangoConnector

from metaqore_site.database import tenant_connection
from tenants.models import Organization

logger = logging.getLogger(__name__)

ORG_ARGUMENT = "org"
DEFAULT_QUEUE = "default"

# Jobs are always written through Django's own connection, so they join the caller's
# transaction (the worker's polling connections are a separate pool; see run_worker).
transactional_manager = manager.JobManager(DjangoConnector(alias="default"))


def _tidy_connection() -> None:
    """Before and after each job, as Django does around a request: drop a broken or expired
    connection (back to the pool). Not inside an atomic block (a job called from a test or
    from other code inside a transaction keeps the caller's connection)."""
    if not connection.in_atomic_block:
        close_old_connections()


class NotInOrganization(RuntimeError):
    """An org task was enqueued from the public schema without ``org=``."""


@dataclass(frozen=True)
class OrgTask:
    """A task that runs in one organization's schema (see ``org_task``)."""

    task: procrastinate_tasks.Task
    func: Callable[..., Any]

    @property
    def name(self) -> str:
        return self.task.name

    def run_now(self, **kwargs: Any) -> Any:
        """Call the function here, in the current schema (tests, commands)."""
        return self.func(**kwargs)


def _retry(retry: int | BaseRetryStrategy | None) -> BaseRetryStrategy | None:
    if retry is None or isinstance(retry, BaseRetryStrategy):
        return retry
    return RetryStrategy(max_attempts=retry, exponential_wait=2) if retry else None


def org_task(
    *,
    name: str,
    queue: str = DEFAULT_QUEUE,
    retry: int | BaseRetryStrategy | None = None,
    pass_context: bool = False,
) -> Callable[[Callable[..., Any]], OrgTask]:
    """Register ``func`` as a task that runs in the schema named by its job's ``org``.

    ``retry``: retries after a failure (an int: that many, waiting 2 s, 4 s, 8 s, …; or a
    Procrastinate retry strategy). ``pass_context``: ``func`` receives the job context
    (attempt number, job id) as its first argument.
    """

    def decorator(func: Callable[..., Any]) -> OrgTask:
        @functools.wraps(func)
        def run(*args: Any, org: str, **kwargs: Any) -> Any:
            _tidy_connection()  # like a request: a fresh or healthy connection
            try:
                if not Organization.objects.filter(schema_name=org).exists():
                    logger.warning("Job %s skipped: organization %s is gone", name, org)
                    return None
                with schema_context(org):
                    return func(*args, **kwargs)
            finally:
                _tidy_connection()

        strategy = _retry(retry) or False
        if pass_context:
            task = app.task(name=name, queue=queue, retry=strategy, pass_context=True)(run)
        else:
            task = app.task(name=name, queue=queue, retry=strategy)(run)
        return OrgTask(task=task, func=func)

    return decorator


def platform_task(
    *, name: str, queue: str = DEFAULT_QUEUE, retry: int | BaseRetryStrategy | None = None
) -> Callable[[Callable[..., Any]], procrastinate_tasks.Task]:
    """Register a task that runs in the public schema (platform housekeeping)."""

    def decorator(func: Callable[..., Any]) -> procrastinate_tasks.Task:
        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            _tidy_connection()
            try:
                return func(*args, **kwargs)
            finally:
                _tidy_connection()

        return app.task(name=name, queue=queue, retry=_retry(retry) or False)(run)

    return decorator


def current_org_schema() -> str:
    schema = tenant_connection.schema_name
    if not schema or schema == get_public_schema_name():
        raise NotInOrganization("Enqueue an org task inside an organization's schema, or org=.")
    return schema


def enqueue(
    task: OrgTask,
    *,
    org: str | None = None,
    lock: str | None = None,
    queueing_lock: str | None = None,
    schedule_in: dict[str, float] | None = None,
    priority: int | None = None,
    **kwargs: Any,
) -> int | None:
    """Queue one job of ``task`` for ``org`` (default: the current schema) in the caller's
    transaction. Returns the job id; None when ``queueing_lock`` says one is already waiting.

    ``lock``: jobs sharing it run one at a time, in the order they were queued (a later job
    waits while an earlier one is retried). ``queueing_lock``: at most one waiting job.
    ``kwargs`` must be JSON values.
    """
    schema = org or current_org_schema()
    options: dict[str, Any] = {"lock": lock, "queueing_lock": queueing_lock}
    if schedule_in:
        options["schedule_in"] = schedule_in
    if priority is not None:
        options["priority"] = priority
    job = task.task.configure(**options).make_new_job(**{ORG_ARGUMENT: schema, **kwargs})
    if queueing_lock is None:
        deferred = transactional_manager.defer_job(job)
    else:
        try:
            with transaction.atomic():  # a savepoint: a refusal must not abort the caller
                deferred = transactional_manager.defer_job(job)
        except exceptions.AlreadyEnqueued:
            return None
    return deferred.id


def enqueue_for_every_org(task: OrgTask, **kwargs: Any) -> int:
    """One job of ``task`` per organization (none where one is still waiting); the count."""
    queued = 0
    schemas = Organization.objects.order_by("schema_name").values_list("schema_name", flat=True)
    for schema in schemas:
        if enqueue(task, org=schema, queueing_lock=f"{task.name}@{schema}", **kwargs) is not None:
            queued += 1
    return queued


def schedule_cron(schedule: str, default: str) -> str | None:
    """The cron line of ``schedule``: ``METAQORE_SCHEDULES[schedule]`` (from the environment
    variable ``METAQORE_SCHEDULE_<NAME>``), else ``default``; None when it is ``off``."""
    cron = settings.METAQORE_SCHEDULES.get(schedule, default).strip()
    return None if cron.lower() in ("off", "none", "") else cron


def schedule_env_name(schedule: str) -> str:
    return "METAQORE_SCHEDULE_" + schedule.upper().replace("-", "_").replace(".", "_")


# schedule name -> (cron in force, default); what the README and the dashboard list
SCHEDULES: dict[str, tuple[str | None, str]] = {}


def every_org(task: OrgTask, *, schedule: str, default: str, **kwargs: Any) -> None:
    """Run ``task`` for every organization on the cron line of ``schedule`` (default
    ``default``): a periodic job fans out one job per org (never two waiting for one org)."""
    cron = schedule_cron(schedule, default)
    SCHEDULES[schedule] = (cron, default)
    if cron is None:
        return

    def fan_out(timestamp: int) -> int:
        _tidy_connection()
        try:
            return enqueue_for_every_org(task, **kwargs)
        finally:
            _tidy_connection()

    fan_out.__name__ = f"{task.name}.every_org"
    periodic_task = app.task(name=f"{task.name}.every_org", queue=task.task.queue)(fan_out)
    app.periodic(cron=cron, periodic_id=schedule)(periodic_task)


def platform_schedule(task: procrastinate_tasks.Task, *, schedule: str, default: str) -> None:
    """Run a platform task (``platform_task``) on the cron line of ``schedule``."""
    cron = schedule_cron(schedule, default)
    SCHEDULES[schedule] = (cron, default)
    if cron is not None:
        app.periodic(cron=cron, periodic_id=schedule)(task)


__all__ = [
    "JobContext",
    "NotInOrganization",
    "OrgTask",
    "enqueue",
    "enqueue_for_every_org",
    "every_org",
    "org_task",
    "platform_schedule",
    "platform_task",
]
