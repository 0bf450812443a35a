import django_filters

from artifacts.models import Artifact


class ArtifactFilter(django_filters.FilterSet):
    project_id = django_filters.CharFilter(field_name="project_id", max_length=32)
    artifact_type = django_filters.CharFilter(max_length=100)
    created_by = django_filters.CharFilter(max_length=200)
    state = django_filters.ChoiceFilter(choices=Artifact.State.choices)
    is_blocked = django_filters.BooleanFilter()

    class Meta:
        model = Artifact
        fields = ["project_id", "artifact_type", "created_by", "state", "is_blocked"]
