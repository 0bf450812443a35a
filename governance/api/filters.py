import django_filters

from artifacts.models import Conflict
from compliance.api.filters import ISO8601Filter
from governance.models import AdmissionDecision, Waiver
from governance.rules import OUTCOMES
from governance.waivers import waivers_by_status


class ConflictFilter(django_filters.FilterSet):
    project_id = django_filters.CharFilter(field_name="project_id", max_length=32)
    artifact_id = django_filters.CharFilter(field_name="artifact_id", max_length=32)
    severity = django_filters.ChoiceFilter(choices=Conflict.Severity.choices)
    status = django_filters.ChoiceFilter(choices=Conflict.Status.choices)
    conflict_type = django_filters.CharFilter(max_length=50)
    resolved = django_filters.BooleanFilter(method="filter_resolved")

    class Meta:
        model = Conflict
        fields = ["project_id", "artifact_id", "severity", "status", "conflict_type", "resolved"]

    def filter_resolved(self, queryset, name, value):
        if value:
            return queryset.filter(status=Conflict.Status.RESOLVED)
        return queryset.filter(status__in=Conflict.UNRESOLVED)


class DecisionFilter(django_filters.FilterSet):
    project_id = django_filters.CharFilter(field_name="project_id", max_length=32)
    project = django_filters.CharFilter(field_name="project_id", max_length=32)
    outcome = django_filters.ChoiceFilter(choices=[(o, o) for o in OUTCOMES])
    rule = django_filters.CharFilter(method="filter_rule", max_length=64)
    since = ISO8601Filter(field_name="created_at", lookup_expr="gte")
    artifact_id = django_filters.CharFilter(field_name="artifact_id", max_length=32)
    waiver = django_filters.CharFilter(method="filter_waiver", max_length=32)

    class Meta:
        model = AdmissionDecision
        fields = ["project_id", "project", "outcome", "rule", "since", "artifact_id", "waiver"]

    def filter_rule(self, queryset, name, value):
        return queryset.filter(rule_ids__contains=[value])

    def filter_waiver(self, queryset, name, value):
        return queryset.filter(conflicts__contains=[{"waiver_id": value}])


class WaiverFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        choices=[(s, s) for s in ("active", "expired", "revoked")], method="filter_status"
    )

    class Meta:
        model = Waiver
        fields = ["status"]

    def filter_status(self, queryset, name, value):
        return queryset & waivers_by_status(value)
