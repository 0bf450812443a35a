"""Base serializer: strings must be JSON strings (DRF would turn 5 into "5" silently)."""

from __future__ import annotations

import re
from typing import Any

from django.db import models
from rest_framework import serializers

# JSON may escape half a surrogate pair ("\ud800"); no UTF-8 encoding exists for it, so
# neither PostgreSQL nor the response could carry it.
_SURROGATE = re.compile("[\ud800-\udfff]")
NULL_CHARACTERS = "Null characters are not allowed."
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


class StrictModelSerializer(serializers.ModelSerializer):
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
    }
