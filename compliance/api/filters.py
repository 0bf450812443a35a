"""Filters of the audit trail, shared by the API list, the exports and the CLI."""

from __future__ import annotations

from datetime import UTC, datetime

import django_filters
from django import forms
from django.db.models import QuerySet

from compliance.models import AuditEvent

FILTER_NAMES = (
    "event_type",
    "actor",
    "agent_name",
    "provider",
    "task_type",
    "project_id",
    "resource_type",
    "resource_id",
    "since",
    "until",
)


class ISO8601Field(forms.CharField):
    """An ISO 8601 date or date-time; naive values are UTC. ``+`` decoded to a space by a
    query string (``…T10:00:00+02:00`` sent unencoded) is put back."""

    default_error_messages = {"invalid": "Enter an ISO 8601 date or date-time."}

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return None
        text = value.strip().replace(" ", "+") if "T" in value else value.strip()
        try:
            parsed = datetime.fromisoformat(text)
            # In UTC: PostgreSQL refuses offsets Python accepts (beyond ±15:59).
            return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except (ValueError, OverflowError):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None


class ISO8601Filter(django_filters.Filter):
    field_class = ISO8601Field


class AuditEventFilter(django_filters.FilterSet):
    event_type = django_filters.CharFilter(
        method="filter_event_type",
        max_length=100,
        help_text="Exact type (`artifact.declared`) or a prefix ending in `.*` (`artifact.*`).",
    )
    actor = django_filters.CharFilter(max_length=220, help_text="`agent:<name>`, `user:<name>`…")
    agent_name = django_filters.CharFilter(max_length=200)
    provider = django_filters.CharFilter(max_length=100)
    task_type = django_filters.CharFilter(max_length=100)
    project_id = django_filters.CharFilter(max_length=64)
    resource_type = django_filters.CharFilter(max_length=50)
    resource_id = django_filters.CharFilter(max_length=200)
    since = ISO8601Filter(
        field_name="timestamp", lookup_expr="gte", help_text="Events at or after (ISO 8601)."
    )
    until = ISO8601Filter(
        field_name="timestamp", lookup_expr="lte", help_text="Events at or before (ISO 8601)."
    )

    class Meta:
        model = AuditEvent
        fields = list(FILTER_NAMES)

    def filter_event_type(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value.endswith("*"):
            prefix = value.rstrip("*")
            return queryset.filter(event_type__startswith=prefix) if prefix else queryset
        return queryset.filter(event_type=value)


class FilterError(ValueError):
    def __init__(self, errors: dict):
        self.errors = errors
        super().__init__(
            "; ".join(
                f"{name}: {' '.join(map(str, messages))}" for name, messages in errors.items()
            )
        )


def audit_events_filtered(params, queryset: QuerySet | None = None) -> tuple[QuerySet, dict]:
    """(filtered queryset, the filter values given) or FilterError with field errors."""
    filterset = AuditEventFilter(
        data=params, queryset=queryset if queryset is not None else AuditEvent.objects.all()
    )
    if not filterset.is_valid():
        raise FilterError(dict(filterset.errors))
    given = {name: params.get(name) for name in FILTER_NAMES if params.get(name) not in (None, "")}
    return filterset.qs, given
