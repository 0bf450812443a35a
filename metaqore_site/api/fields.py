"""Serializer fields that keep hostile JSON out of PostgreSQL (which rejects NUL and NaN)."""

from __future__ import annotations

import math
from typing import Any, cast

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from metaqore_site.api.serializers import StrictCharField, unstorable_text
from metaqore_site.compiled_query import compiles_by_pk, row_by_pk

MAX_JSON_DEPTH = 20
MAX_JSON_ITEMS = 10_000


def validate_json_value(value: Any, *, depth: int = 0, budget: list[int] | None = None) -> None:
    """Raise ValidationError for values jsonb cannot store or that are unreasonably deep/wide."""
    budget = budget if budget is not None else [MAX_JSON_ITEMS]
    budget[0] -= 1
    if budget[0] < 0:
        raise serializers.ValidationError(f"Too many JSON values (limit {MAX_JSON_ITEMS}).")
    if depth > MAX_JSON_DEPTH:
        raise serializers.ValidationError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels.")
    if isinstance(value, str):
        reason = unstorable_text(value)
        if reason:
            raise serializers.ValidationError(reason)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise serializers.ValidationError("Numbers must be finite.")
    elif isinstance(value, dict):
        for key, item in value.items():
            validate_json_value(key, depth=depth + 1, budget=budget)
            validate_json_value(item, depth=depth + 1, budget=budget)
    elif isinstance(value, list):
        for item in value:
            validate_json_value(item, depth=depth + 1, budget=budget)


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {},
        "maxProperties": MAX_JSON_ITEMS,
        "description": f"Any JSON object, at most {MAX_JSON_DEPTH} levels deep and "
        f"{MAX_JSON_ITEMS:,} values in all; no NUL or lone surrogate characters, finite numbers.",
    }
)
class JSONObjectField(serializers.JSONField):
    """A JSON object (dict) with bounded depth and size, free of NUL characters."""

    default_error_messages = {"not_object": "Expected a JSON object."}

    def to_internal_value(self, data: Any) -> Any:
        value = super().to_internal_value(data)
        if not isinstance(value, dict):
            self.fail("not_object")
        validate_json_value(value)
        return value


class IdListField(serializers.ListField):
    """A bounded list of prefixed public ids (e.g. ``task_…``)."""

    def __init__(self, *, prefix: str, max_length: int = 500, **kwargs: Any):
        self.prefix = prefix
        kwargs.setdefault("child", StrictCharField(max_length=64))
        super().__init__(max_length=max_length, **kwargs)

    def to_internal_value(self, data: Any) -> list[str]:
        values = super().to_internal_value(data)
        bad = [value for value in values if not value.startswith(self.prefix)]
        if bad:
            raise serializers.ValidationError(
                f"Expected ids starting with '{self.prefix}': {bad[:5]}"
            )
        return list(dict.fromkeys(values))  # drop duplicates, keep order


PUBLIC_ID_MAX_LENGTH = 32


class PublicIdField(StrictCharField):
    """A public id (``proj_…``) given in a body or a query string."""

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("max_length", PUBLIC_ID_MAX_LENGTH)
        super().__init__(**kwargs)


class PublicIdRelatedField(serializers.PrimaryKeyRelatedField):
    """A related row by its public id (``proj_…``); the id is checked like any string field
    (type, length, characters) before it reaches a query. With an unfiltered queryset
    (``Model.objects.all()``) the look-up is compiled once (``CompiledQuery``)."""

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("pk_field", PublicIdField())
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Any:
        queryset = self.queryset
        if not isinstance(queryset, QuerySet) or not compiles_by_pk(queryset):
            return super().to_internal_value(data)
        pk = cast(PublicIdField, self.pk_field).to_internal_value(data)
        instance = row_by_pk(queryset, pk)
        if instance is None:
            self.fail("does_not_exist", pk_value=pk)
        return instance
