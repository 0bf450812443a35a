"""Governed tables: which models hold governance state, and the one way to write them.

Every concrete model of an organization's apps is classified, once, next to its definition:

    governed(Project, service="projects.services")            # every change is audited
    governed(AgentKey, service="access.keys", bookkeeping_columns={"last_used_at": "why"})
    bookkeeping(Session, reason="login sessions: who is signed in, not governance state")

``tests/compliance/test_governed_tables.py`` fails when a model of an org app is neither.

A governed table is guarded in PostgreSQL (``compliance.guards.govern_table``, a migration
operation): a transaction that inserts, updates or deletes its rows must have declared its
actor (``governed_writes``) or written an audit event; otherwise the commit is refused. Every
change is journaled by transaction id, and verification reports changes whose transaction wrote
no event. Changes of the named bookkeeping columns only are neither refused nor journaled.

In Python, ``GovernedQuerySet`` (``objects = GovernedManager()``) refuses ``update``,
``bulk_create``, ``bulk_update`` and ``delete`` outside ``governed_writes`` with an error that
names the service to call (an ``update`` of bookkeeping columns only is allowed).

``mark_audited`` tells the audit receivers (signals that audit plain ``save()`` calls with
actor ``system``) that a service audits this one save or delete itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.db import connection, models

from metaqore_site.errors import GovernanceBypassError

_MARK = "_compliance_audited"
ModelT = TypeVar("ModelT", bound=models.Model)
ModelRef = type[models.Model] | str  # a model class or its "app_label.ModelName"


# --- the registry ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Classification:
    label: str  # "app_label.modelname" (lower case)
    governed: bool
    service: str = ""  # governed: the module or function to call instead of a bulk write
    reason: str = ""  # bookkeeping: why the table is not governance state
    bookkeeping_columns: Mapping[str, str] = field(default_factory=dict)  # column -> reason


_registry: dict[str, Classification] = {}


def _label(model: ModelRef) -> str:
    if isinstance(model, str):
        app_label, _, name = model.partition(".")
        return f"{app_label}.{name.lower()}"
    return model._meta.label_lower


def _register(entry: Classification) -> None:
    known = _registry.get(entry.label)
    if known is not None and known != entry:
        raise ValueError(f"{entry.label} is already classified differently: {known}")
    _registry[entry.label] = entry


def governed(
    model: ModelRef, *, service: str, bookkeeping_columns: Mapping[str, str] | None = None
) -> None:
    """Declare ``model``'s table governed. ``service`` names what to call to change it (shown
    in the errors). ``bookkeeping_columns`` maps a column to the reason its changes are exempt
    (e.g. a key's ``last_used_at``); the migration's ``govern_table`` names the same columns."""
    columns = dict(bookkeeping_columns or {})
    for column, reason in columns.items():
        if not reason.strip():
            raise ValueError(f"Bookkeeping column {column} of {_label(model)} needs a reason.")
    if not service.strip():
        raise ValueError(f"Governed {_label(model)} needs the service that writes it.")
    _register(Classification(_label(model), True, service=service, bookkeeping_columns=columns))


def bookkeeping(model: ModelRef, *, reason: str) -> None:
    """Declare ``model``'s table bookkeeping (not governance state), with the reason why."""
    if not reason.strip():
        raise ValueError(f"Bookkeeping {_label(model)} needs a reason.")
    _register(Classification(_label(model), False, reason=reason))


def classification(model: ModelRef) -> Classification | None:
    return _registry.get(_label(model))


def classifications() -> dict[str, Classification]:
    return dict(_registry)


# --- the governed write path -------------------------------------------------------------------

_actor: ContextVar[str | None] = ContextVar("metaqore_governed_actor", default=None)

ACTOR_SETTING = "metaqore.actor"  # the transaction-local setting the database guard reads


def current_governed_actor() -> str | None:
    """The actor declared by the enclosing ``governed_writes``, if any."""
    return _actor.get()


@contextmanager
def governed_writes(actor: object) -> Iterator[None]:
    """Declare ``actor`` (``str(actor)``) as the author of the governed writes in this block.

    Call it inside the service's transaction (``transaction.atomic``), which must also record
    the change's audit event. PostgreSQL gets ``SET LOCAL metaqore.actor`` (it lasts until the
    transaction ends) and the governed querysets allow bulk writes inside the block. Nested
    blocks of the same actor cost nothing.
    """
    text = str(actor)
    if not text:
        raise ValueError("governed_writes needs an actor.")
    if not connection.in_atomic_block:
        raise RuntimeError(
            "governed_writes must run inside a transaction (transaction.atomic), the one that "
            "also records the audit event."
        )
    if _actor.get() != text:
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config(%s, %s, true)", [ACTOR_SETTING, text])
    token = _actor.set(text)
    try:
        yield
    finally:
        _actor.reset(token)


def _refuse(model: type[models.Model], what: str) -> GovernanceBypassError:
    entry = classification(model)
    service = entry.service if entry and entry.service else "its service"
    name = model.__name__
    return GovernanceBypassError(
        f"{name}.objects.{what}() bypasses governance (no audit event); call {service} "
        f"instead, or write inside governed_writes(actor) with the audit event.",
        code="governance_bypass",
    )


class GovernedQuerySet(models.QuerySet):
    """Bulk writes of a governed model: refused outside ``governed_writes`` (naming the
    service to call); ``update`` of bookkeeping columns only is always allowed."""

    def _check(self, what: str, fields: Any = ()) -> None:
        if _actor.get() is not None:
            return
        entry = classification(self.model)
        bookkeeping = set(entry.bookkeeping_columns) if entry is not None else set()
        if what == "update" and fields and set(fields) <= bookkeeping:
            return
        raise _refuse(self.model, what)

    def update(self, **kwargs):
        self._check("update", kwargs)
        return super().update(**kwargs)

    def bulk_create(self, *args, **kwargs):
        self._check("bulk_create")
        return super().bulk_create(*args, **kwargs)

    def bulk_update(self, *args, **kwargs):
        self._check("bulk_update")
        return super().bulk_update(*args, **kwargs)

    def delete(self):
        self._check("delete")
        return super().delete()

    delete.alters_data = True  # type: ignore[attr-defined]
    delete.queryset_only = True  # type: ignore[attr-defined]


class GovernedManager(models.Manager.from_queryset(GovernedQuerySet)):  # type: ignore[misc]
    """``objects`` of every governed model."""


# --- marks for the audit receivers -------------------------------------------------------------


def mark_audited(instance: ModelT) -> ModelT:
    """Tell the audit receivers that the caller (a service) audits this save/delete itself.

    Call it right before ``instance.save()`` / ``instance.delete()``; the mark is consumed by
    that one save or delete, so a later plain ``save()`` of the same object is audited again.
    """
    setattr(instance, _MARK, True)
    return instance


def is_marked(instance: models.Model) -> bool:
    return bool(getattr(instance, _MARK, False))


def consume_mark(instance: models.Model) -> bool:
    return bool(instance.__dict__.pop(_MARK, False))
