"""Writing the audit trail: the one function every write path calls, and the signal helpers
that catch ORM writes which did not come through a service.

Usage in a service (the change and its event commit or roll back together)::

    @transaction.atomic
    def thing_update(*, thing, actor, changes):
        before = model_snapshot(thing, FIELDS)
        ...apply changes...
        mark_audited(thing)          # the post_save receiver will not audit this save again
        thing.save()
        audit_record(event_type="thing.updated", actor=actor, resource_type="thing",
                     resource_id=thing.id, payload=changes_payload(before, model_snapshot(...)))

Usage in an app's ``signals.py`` (imported from ``AppConfig.ready``)::

    connect_audit_signals(Thing, thing="thing", fields=FIELDS, project_id=lambda t: t.project_id)

so that ``Thing.objects.create(...)`` or ``thing.save()`` from the shell writes
``thing.created`` / ``thing.updated`` (before/after of the changed fields; nothing when nothing
changed) / ``thing.deleted`` with actor ``system``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from django.db import connection, models, transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.utils import timezone
from django_tenants.utils import get_public_schema_name

from access.actors import SYSTEM, Actor
from compliance.chain import (
    CHAIN_VERSION,
    EVENT_FIELDS,
    canonical_json,
    event_hash,
    format_timestamp,
    new_salt,
    normalize_payload,
    personal_digest,
)
from compliance.models import GENESIS_HASH, AuditChainHead, AuditEvent, new_event_id
from metaqore_site.database import tenant_connection
from metaqore_site.governed import consume_mark, is_marked
from metaqore_site.middleware import current_request_id
from tenants.models import Organization

_BEFORE = "_compliance_before"

# schema name -> organization slug (a schema never changes its org)
_slugs: dict[str, str] = {}


# Called with each appended event of the types they apply to, inside the caller's transaction,
# after the append (so what they write commits or rolls back with the event). Higher apps
# register from their AppConfig.ready(): events queues the webhook deliveries of live events
# this way.
EventHook = Callable[..., object]


@dataclass(frozen=True)
class _Hook:
    run: EventHook
    read_sql: str
    applies: Callable[[str], bool] | None


_event_hooks: list[_Hook] = []


def on_audit_event(
    hook: EventHook, *, read_sql: str = "", applies: Callable[[str], bool] | None = None
) -> None:
    """Register ``hook(event)``, run for each event in the transaction that appends it, or
    only for the event types ``applies(event_type)`` accepts.

    ``read_sql``: a scalar subquery run in the append's own statement, its value passed as
    ``hook(event, value)``. One round trip fewer while the org's chain head is locked, which
    bounds how many events an org appends per second (README "Performance"). The statement
    starts after the lock is granted, so it sees what every earlier append's transaction
    committed, as a separate read after the append would.
    """
    if all(registered.run is not hook for registered in _event_hooks):
        _event_hooks.append(_Hook(hook, read_sql, applies))


class AuditUnavailable(RuntimeError):
    """audit_record was called outside an organization's schema."""


def current_organization_slug() -> str:
    schema = tenant_connection.schema_name
    if not schema or schema == get_public_schema_name():
        raise AuditUnavailable("The audit trail lives in an organization's schema, not public.")
    slug = getattr(tenant_connection.tenant, "slug", None)
    if slug:
        return slug
    if schema not in _slugs:
        found = Organization.objects.filter(schema_name=schema).values_list("slug", flat=True)
        slug = found.first()
        if slug is None:  # not committed yet, or not an org: do not remember a guess
            return schema
        _slugs[schema] = slug
    return _slugs[schema]


def _actor_fields(actor: Actor | str) -> tuple[str, str]:
    """(actor string, agent name when the actor is an agent)."""
    if isinstance(actor, Actor):
        return str(actor), actor.name if actor.is_agent else ""
    text = str(actor)
    return text, text.removeprefix("agent:") if text.startswith("agent:") else ""


_HEAD_TABLE = AuditChainHead._meta.db_table
_EVENT_TABLE = AuditEvent._meta.db_table
_LOCK_SQL = f'SELECT seq, hash FROM "{_HEAD_TABLE}" WHERE id = 1 FOR UPDATE'  # noqa: S608
# The row lock is already held; the event's AFTER INSERT trigger moves the head to it (the
# only way the head's seq/hash can change: compliance.models.HEAD_MOVE / HEAD_GUARD).
_APPEND_SQL = (
    f'INSERT INTO "{_EVENT_TABLE}" ({", ".join(EVENT_FIELDS)}) '  # noqa: S608
    f"VALUES ({', '.join('%s::jsonb' if name == 'payload' else '%s' for name in EVENT_FIELDS)})"
)


@cache
def _append_statement(reads: tuple[str, ...]) -> str:
    """The append, and the hooks' reads in the same statement: one row (rows appended, each
    read's value) when a hook reads, else no row."""
    if not reads:
        return _APPEND_SQL
    return (
        f"WITH appended AS ({_APPEND_SQL} RETURNING 1) "  # noqa: S608 (the apps' own SQL)
        f"SELECT (SELECT count(*) FROM appended), {', '.join(f'({sql})' for sql in reads)}"
    )


def _lock_head(cursor) -> tuple[int, str]:
    """Lock this schema's chain head until the transaction ends; (seq, hash) of the last event."""
    cursor.execute(_LOCK_SQL)
    row = cursor.fetchone()
    if row is not None:
        return row
    # The migration creates the head; rebuild it from the last event if it is ever missing.
    last = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
    seq, hash_ = last or (0, GENESIS_HASH)
    cursor.execute(
        f'INSERT INTO "{_HEAD_TABLE}" (id, seq, hash) VALUES (1, %s, %s) '  # noqa: S608
        "ON CONFLICT (id) DO NOTHING",
        [seq, hash_],
    )
    cursor.execute(_LOCK_SQL)
    return cursor.fetchone()


def chain_head_lock() -> tuple[int, str]:
    """Lock the current organization's chain head until the transaction ends (appends wait);
    (seq, hash) of its last event. For readers that must see a head that cannot move."""
    with connection.cursor() as cursor:
        return _lock_head(cursor)


def audit_record(
    *,
    event_type: str,
    actor: Actor | str,
    resource_type: str = "",
    resource_id: str = "",
    project_id: str = "",
    payload: dict | None = None,
    agent_name: str = "",
    provider: str = "",
    task_type: str = "",
    request_id: str | None = None,
) -> AuditEvent:
    """Append one event to the current organization's chain, in the caller's transaction.

    Appends are serialized per organization by locking the chain head row until the caller's
    transaction ends: seq is gap-free and the chain never forks. If the caller rolls back, the
    event goes too; if the event cannot be written, the exception aborts the caller's change.
    Two queries: lock the head; insert the event and move the head (and the hooks' reads).
    """
    organization = current_organization_slug()
    actor_text, actor_agent = _actor_fields(actor)
    if request_id is None:
        request_id = current_request_id.get()
    fields: dict[str, Any] = {
        "event_type": event_type,
        "organization": organization,
        "actor": actor_text,
        "agent_name": agent_name or actor_agent,
        "provider": provider or "",
        "task_type": task_type or "",
        "project_id": project_id or "",
        "resource_type": resource_type or "",
        "resource_id": str(resource_id or ""),
        "request_id": request_id or "",
        "payload": normalize_payload(payload),
    }
    hooks = [hook for hook in _event_hooks if hook.applies is None or hook.applies(event_type)]
    # No savepoint: inside a caller's transaction a failure here must fail the caller's change.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        prev_seq, prev_hash = _lock_head(cursor)
        values = {
            **fields,
            "id": new_event_id(),
            "seq": prev_seq + 1,
            "timestamp": timezone.now(),
            "prev_hash": prev_hash,
            "chain_version": CHAIN_VERSION,
            "salt": new_salt(),
            "erasure_id": "",
        }
        values["personal_digest"] = personal_digest(values)
        hashed = {**values, "timestamp": format_timestamp(values["timestamp"])}
        values["hash"] = event_hash(prev_hash, hashed)
        params = [
            canonical_json(values[name]) if name == "payload" else values[name]
            for name in EVENT_FIELDS
        ]
        reads_sql = tuple(hook.read_sql for hook in hooks if hook.read_sql)
        cursor.execute(_append_statement(reads_sql), params)
        if cursor.description is None:  # no hook reads: the INSERT alone
            appended, reads = cursor.rowcount, []
        else:
            appended, *reads = cursor.fetchone()
        if appended != 1:
            raise RuntimeError("The audit event was not appended.")
    event = AuditEvent(**values)
    event._state.adding = False
    event._state.db = connection.alias
    read_values = iter(reads)
    for hook in hooks:
        if hook.read_sql:
            hook.run(event, next(read_values))
        else:
            hook.run(event)
    return event


class AuditTarget(Protocol):
    """A model instance that knows how it appears in the trail (resource, project, line)."""

    def audit_target(self) -> dict[str, str]: ...


def audit_for(
    event_type: str,
    target: AuditTarget,
    *,
    actor: Actor | str,
    payload: dict | None = None,
    **fields: str,
) -> AuditEvent:
    """``audit_record`` about ``target``: its ``audit_target()`` fills resource type and id,
    project and line (``fields`` override them); its ``audit_context()``, when it has one,
    opens the payload (e.g. the artifact of a conflict)."""
    context = getattr(target, "audit_context", None)
    if context is not None:
        payload = {**context(), **(payload or {})}
    return audit_record(
        event_type=event_type,
        actor=actor,
        payload=payload,
        **{**target.audit_target(), **fields},
    )


# --- ORM saves that did not come through a service -------------------------------------------


def model_snapshot(instance: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    """The current values of ``fields`` (JSON-ready: dates become ISO strings)."""
    return normalize_payload({name: getattr(instance, name) for name in fields})


def changes_payload(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """``{"before": {...}, "after": {...}}`` restricted to the fields whose value changed."""
    changed = [name for name in after if before.get(name) != after[name]]
    return {
        "before": {name: before.get(name) for name in changed},
        "after": {name: after[name] for name in changed},
    }


def connect_audit_signals(
    model: type[models.Model],
    *,
    thing: str,
    fields: Iterable[str],
    project_id: Callable[[Any], str] | None = None,
    resource_id: Callable[[Any], str] | None = None,
    update_event: Callable[[dict, dict], str | None] | None = None,
    extra: Callable[[Any], dict[str, str]] | None = None,
) -> None:
    """Audit unmarked saves and deletes of ``model`` with actor ``system``.

    - create → ``<thing>.created`` with ``{"after": snapshot}``;
    - update → ``update_event(before, after)`` (default ``<thing>.updated``; None = no event)
      with ``{"before", "after"}`` of the changed fields; nothing when nothing changed (the
      previous row is read in pre_save, one query, only for unmarked saves);
    - delete → ``<thing>.deleted`` with ``{"before": snapshot}``.

    ``project_id``/``resource_id``/``extra`` (more audit_record keyword arguments) are computed
    from the instance. Services call ``mark_audited(instance)`` before saving to skip all this.
    """
    fields = tuple(fields)
    uid = f"compliance-audit-{model._meta.label_lower}"

    def common(instance: Any) -> dict[str, Any]:
        return {
            "actor": SYSTEM,
            "resource_type": thing,
            "resource_id": resource_id(instance) if resource_id else str(instance.pk),
            "project_id": project_id(instance) if project_id else "",
            **(extra(instance) if extra else {}),
        }

    def before_save(sender, instance, raw=False, **kwargs):
        if is_marked(instance) or instance._state.adding or instance.pk is None:
            return
        previous = sender._default_manager.filter(pk=instance.pk).values(*fields).first()
        if previous is not None:
            setattr(instance, _BEFORE, normalize_payload(previous))

    def after_save(sender, instance, created, **kwargs):
        before = instance.__dict__.pop(_BEFORE, None)
        if consume_mark(instance):
            return
        after = model_snapshot(instance, fields)
        if created or before is None:
            payload = {"after": after}
            audit_record(event_type=f"{thing}.created", payload=payload, **common(instance))
            return
        payload = changes_payload(before, after)
        if not payload["after"]:
            return
        event_type = update_event(before, after) if update_event else f"{thing}.updated"
        if event_type:
            audit_record(event_type=event_type, payload=payload, **common(instance))

    def after_delete(sender, instance, **kwargs):
        if consume_mark(instance):
            return
        payload = {"before": model_snapshot(instance, fields)}
        audit_record(event_type=f"{thing}.deleted", payload=payload, **common(instance))

    pre_save.connect(before_save, sender=model, weak=False, dispatch_uid=f"{uid}-pre-save")
    post_save.connect(after_save, sender=model, weak=False, dispatch_uid=f"{uid}-post-save")
    post_delete.connect(after_delete, sender=model, weak=False, dispatch_uid=f"{uid}-post-delete")
