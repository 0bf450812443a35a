"""Querysets compiled to SQL once per process and run again with new values.

Django builds and compiles a queryset on every evaluation: cloning, resolving the filters,
writing the SQL. On the hot path of a declaration that is most of a query's cost: about
0.7 ms of CPU for a one-row look-up on the bench machine, where sending the same SQL through
the same cursor costs 0.05 ms. The declaration runs the same few shapes every time, so they
are built as querysets (the ORM stays the one place that knows tables, columns and lookups)
and compiled once; each call sends the cached SQL with its own values and converts the
columns with the fields' own converters, as the queryset would.

The SQL holds no schema name (django-tenants resolves tables through the search path), so one
compilation serves every organization.

    LATEST = CompiledQuery(
        lambda project_id: Artifact.objects.filter(project_id=project_id)
        .order_by("-version")
        .values("id", "version")[:1]
    )
    LATEST.first(project_id="proj_…")  # {"id": …, "version": 3} or None

    BY_ID = CompiledQuery(lambda pk: Project.objects.filter(pk=pk)[:1])
    BY_ID.first(pk="proj_…")  # a Project (all its columns) or None

Limits, checked when the query compiles: the queryset gives ``.values()`` rows or model
instances of the model's own columns (no ``select_related``, ``only``/``defer`` or
``annotate``), and each argument is a string that reaches the SQL as one whole parameter
(``=``, ``!=``, ``exact``; not ``__in``, ``__contains`` or other lookups that rewrite or split
the value).
"""

from __future__ import annotations

import functools
import inspect
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import CharField, Model, QuerySet
from django.db.models.query import ModelIterable, ValuesIterable

M = TypeVar("M", bound=Model)

# (value, expression, connection) -> value: what Field.get_db_converters returns
Converter = Callable[[Any, Any, Any], Any]


class UnsupportedQuery(ValueError):
    """The queryset cannot be compiled once and run with new values."""


@dataclass(frozen=True)
class _Compiled:
    sql: str
    # Per SQL parameter: the name of the argument it takes, or a constant of the queryset.
    slots: tuple[tuple[str | None, Any], ...]
    names: tuple[str, ...]  # the result's keys, in column order
    converters: tuple[tuple[int, tuple[Converter, ...], Any], ...]
    model: type[Model] | None  # rows become instances of it (None: dicts, as .values())


class CompiledQuery:
    """A queryset built by ``build(**arguments)``, compiled on first use."""

    def __init__(self, build: Callable[..., QuerySet]) -> None:
        self._build = build
        parameters = inspect.signature(build).parameters.values()
        if any(p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) for p in parameters):
            raise UnsupportedQuery("build() takes named arguments (no *args or **kwargs).")
        self._arguments = tuple(p.name for p in parameters)
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def _compile(self, using: str) -> _Compiled:
        # One marker string per argument: each must come back as one whole SQL parameter.
        markers = {f"\x1farg:{name}:{secrets.token_hex(8)}\x1f": name for name in self._arguments}
        queryset = self._build(**{name: marker for marker, name in markers.items()})
        model = None
        if queryset._iterable_class is ModelIterable:
            query = queryset.query
            if query.select_related or query.annotations or query.deferred_loading[0]:
                raise UnsupportedQuery("Instances are built from the model's own columns only.")
            model = queryset.model
            queryset = queryset.values(*concrete_attnames(model))
        elif not issubclass(queryset._iterable_class, ValuesIterable):
            raise UnsupportedQuery("CompiledQuery takes model instances or .values() rows.")
        query = queryset.query
        compiler = query.get_compiler(using=using)
        sql, params = compiler.as_sql()
        slots: list[tuple[str | None, Any]] = []
        for param in params:
            if isinstance(param, str) and param in markers:
                slots.append((markers[param], None))
            elif isinstance(param, str) and "\x1farg:" in param:
                raise UnsupportedQuery(f"A lookup rewrote an argument ({param!r}).")
            elif isinstance(param, list | tuple) and any("\x1farg:" in str(p) for p in param):
                raise UnsupportedQuery("An argument was passed inside a list.")
            else:
                slots.append((None, param))
        missing = set(self._arguments) - {name for name, _ in slots if name}
        if missing:
            raise UnsupportedQuery(f"Arguments not sent as parameters: {sorted(missing)}.")
        columns = [expression for expression, _sql, _alias in compiler.select]
        converters = compiler.get_converters(columns[: compiler.col_count])
        return _Compiled(
            sql=sql,
            slots=tuple(slots),
            names=(*query.extra_select, *query.values_select, *query.annotation_select),
            converters=tuple(
                (position, tuple(functions), expression)
                for position, (functions, expression) in converters.items()
            ),
            model=model,
        )

    def compiled(self, using: str = DEFAULT_DB_ALIAS) -> _Compiled:
        compiled = self._compiled.get(using)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.get(using) or self._compile(using)
                self._compiled[using] = compiled
        return compiled

    def all(self, using: str = DEFAULT_DB_ALIAS, **arguments: str) -> list[Any]:
        """What the queryset would give: ``.values()`` dicts, or model instances."""
        compiled = self.compiled(using)
        params = [arguments[name] if name else constant for name, constant in compiled.slots]
        connection = connections[using]
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            fetched = cursor.fetchall()
        result = []
        for fetched_row in fetched:
            row = list(fetched_row)
            for position, functions, expression in compiled.converters:
                value = row[position]
                for convert in functions:
                    value = convert(value, expression, connection)
                row[position] = value
            values = dict(zip(compiled.names, row, strict=True))
            result.append(
                instance_from_row(compiled.model, values, using) if compiled.model else values
            )
        return result

    def first(self, using: str = DEFAULT_DB_ALIAS, **arguments: str) -> Any:
        """The first row or instance (the queryset should be sliced ``[:1]``), or None."""
        found = self.all(using, **arguments)
        return found[0] if found else None


def instance_from_row(model: type[M], row: dict[str, Any], using: str = DEFAULT_DB_ALIAS) -> M:
    """A model instance from a row of its concrete fields' attnames (as the ORM builds one)."""
    return model.from_db(using, list(row), list(row.values()))


def concrete_attnames(model: type[Model]) -> tuple[str, ...]:
    return tuple(field.attname for field in model._meta.concrete_fields)


def compiles_by_pk(queryset: QuerySet) -> bool:
    """Whether a look-up by primary key in ``queryset`` can be compiled once per model: the
    model is keyed by a string (a public id) and the queryset is every row of it as plain
    instances (no filter, slice, join, annotation, deferred column, prefetch, lock or
    ``.values()``). Order does not matter to one row, so a view's ordered queryset qualifies."""
    query = queryset.query
    return (
        isinstance(queryset.model._meta.pk, CharField)
        and queryset._iterable_class is ModelIterable
        and not queryset._prefetch_related_lookups  # type: ignore[attr-defined]
        and not queryset._known_related_objects  # type: ignore[attr-defined]
        and not query.has_filters()
        and not query.select_related
        and not query.annotations
        and not query.extra
        and not query.distinct
        and not query.select_for_update
        and query.combinator is None
        and query.deferred_loading == (frozenset(), True)
        and query.low_mark == 0
        and query.high_mark is None
    )


@functools.cache
def _by_pk(model: type[Model]) -> CompiledQuery:
    return CompiledQuery(lambda pk: model._default_manager.filter(pk=pk)[:1])


def row_by_pk(queryset: QuerySet[M], pk: str) -> M | None:
    """``queryset.filter(pk=pk).first()`` compiled once per model, for a queryset that
    ``compiles_by_pk`` (``UnsupportedQuery`` otherwise: the caller uses the ORM)."""
    if not compiles_by_pk(queryset):
        raise UnsupportedQuery("Only every row of a model keyed by a string, unfiltered.")
    return _by_pk(queryset.model).first(using=queryset.db, pk=pk)
