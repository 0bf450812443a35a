import django_filters

from artifacts.models import Conflict


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
