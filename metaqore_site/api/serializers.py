"""Base serializer: strings must be JSON strings (DRF would turn 5 into "5" silently)."""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Iterable
from typing import Any, ClassVar

from django.db import models
from rest_framework import serializers

# JSON may escape half a surrogate pair ("\ud800"); no UTF-8 encoding exists for it, so
# neither PostgreSQL nor the response could carry it.
_SURROGATE = re.compile("[\ud800-\udfff]")
NULL_CHARACTERS = "Null characters are not allowed."
# Names, identifiers and paths are one line of visible text: control characters (newlines,
# tabs, escapes, C1 controls) would forge log lines and terminal output, and bidirectional
# formatting characters (U+202E "RIGHT-TO-LEFT OVERRIDE", …) make a name read as another.
_LINE_BREAKERS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
CONTROL_CHARACTERS = "Control and bidirectional formatting characters are not allowed."
SURROGATE_CHARACTERS = "Surrogate characters are not allowed."


def unstorable_text(text: str) -> str | None:
    """Why PostgreSQL cannot store ``text`` (a NUL or a lone surrogate), or None."""
    if "\x00" in text:
        return NULL_CHARACTERS
    if _SURROGATE.search(text):
        return SURROGATE_CHARACTERS
    return None


class StrictCharField(serializers.CharField):
    default_error_messages = {
        "not_a_string": "Expected a string.",
        "null_characters": NULL_CHARACTERS,
        "surrogate_characters": SURROGATE_CHARACTERS,
    }

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_a_string")
        # Also checked here, not only by DRF's validators: a related field's ``pk_field`` and
        # subclasses that look the value up skip them, and PostgreSQL refuses such text in a
        # query (a 500 instead of a 400).
        reason = unstorable_text(data)
        if reason == NULL_CHARACTERS:
            self.fail("null_characters")
        if reason:
            self.fail("surrogate_characters")
        return super().to_internal_value(data)


def line_text_problem(text: str) -> str | None:
    """Why ``text`` is not acceptable as a name, identifier or path, or None."""
    return CONTROL_CHARACTERS if _LINE_BREAKERS.search(text) else None


class LineField(StrictCharField):
    """A name, identifier or path: one line of visible text (400 for control and
    bidirectional formatting characters)."""

    default_error_messages = {"control_characters": CONTROL_CHARACTERS}

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if line_text_problem(value):
            self.fail("control_characters")
        return value


class StrictModelSerializer(serializers.ModelSerializer):
    # A model's CharField holds names and identifiers (one line); TextField holds prose.
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: LineField,
        models.TextField: StrictCharField,
    }
    # Each class's fields as ModelSerializer builds them (unbound), built once per process.
    _field_prototypes: ClassVar[dict[type, dict[str, serializers.Field]]] = {}

    def get_fields(self) -> dict[str, serializers.Field]:
        """ModelSerializer's fields, copied from what it built the first time: it builds them
        from the model's metadata for every serializer, which costs twice the copy (issue #24).
        What it builds depends only on the class (Meta, declared fields, the field mapping).
        Subclasses that tailor fields to a request do it on the copy (after ``super()``)."""
        cls = type(self)
        prototypes = self._field_prototypes.get(cls)
        if prototypes is None:
            prototypes = self._field_prototypes.setdefault(cls, super().get_fields())
        return {name: unbound_copy(field) for name, field in prototypes.items()}


def unbound_copy(field: serializers.Field) -> serializers.Field:
    """A copy of an unbound field, as ``copy.deepcopy`` gives it at a quarter of the cost.

    DRF deep-copies a field by constructing it again from its arguments, because a bound
    field (name, parent) must not be shared. An unbound prototype only needs its own
    instance: its options (validators, error messages, choices) are read, never changed,
    during a request, and are shared like the arguments ``deepcopy`` passes on. The lists
    of validators are copied, since code may append to them. A field's inner field (a
    list's ``child``, a many-relation's ``child_relation``) is bound to it, so it is copied
    and re-parented; a nested serializer is deep-copied as DRF does."""
    if isinstance(field, serializers.BaseSerializer):
        return copy.deepcopy(field)
    clone = copy.copy(field)
    for name in ("child", "child_relation"):
        inner = field.__dict__.get(name)
        if inner is not None:
            inner_clone = unbound_copy(inner)
            inner_clone.__dict__["parent"] = clone
            setattr(clone, name, inner_clone)
    if "_validators" in field.__dict__:
        clone.__dict__["_validators"] = list(field.__dict__["_validators"])
    return clone


_renderers = threading.local()


def render(
    serializer_class: type[serializers.BaseSerializer], instance: Any, context: dict | None = None
) -> dict:
    """``serializer_class(instance, context=context).data`` from one serializer per class and
    thread: DRF builds and copies every field for each new serializer, which costs more than
    rendering one object (a sixth of a declaration's CPU). Rendering holds no state between
    calls; the context is the call's own."""
    serializer = _renderer(serializer_class)
    serializer._context = context or {}
    return serializer.to_representation(instance)


def render_many(
    serializer_class: type[serializers.BaseSerializer], instances: Iterable
) -> list[dict]:
    """``serializer_class(instances, many=True).data``, as :func:`render` does it."""
    serializer = _renderer(serializer_class)
    return [serializer.to_representation(instance) for instance in instances]


def _renderer(serializer_class: type[serializers.BaseSerializer]) -> serializers.BaseSerializer:
    cache = _renderers.__dict__.setdefault("by_class", {})
    serializer = cache.get(serializer_class)
    if serializer is None:
        serializer = cache[serializer_class] = serializer_class()
    return serializer
