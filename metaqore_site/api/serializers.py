"""Base serializer: strings must be JSON strings (DRF would turn 5 into "5" silently)."""

from __future__ import annotations

from typing import Any

from django.db import models
from rest_framework import serializers


class StrictCharField(serializers.CharField):
    default_error_messages = {
        "not_a_string": "Expected a string.",
        "null_characters": "Null characters are not allowed.",
    }

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_a_string")
        # Also checked here, not only by the validators: a related field's ``pk_field`` skips
        # them, and PostgreSQL refuses NUL in a query (a 500 instead of a 400).
        if "\x00" in data:
            self.fail("null_characters")
        return super().to_internal_value(data)


class StrictModelSerializer(serializers.ModelSerializer):
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
    }
