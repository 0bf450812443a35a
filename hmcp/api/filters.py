import django_filters

from hmcp.models import Specialist, TrainingJob


class SpecialistFilter(django_filters.FilterSet):
    skill = django_filters.CharFilter(field_name="skill__skill_id", max_length=64)
    level = django_filters.CharFilter(max_length=16)
    lifecycle = django_filters.ChoiceFilter(choices=Specialist.Lifecycle.choices)
    project_id = django_filters.CharFilter(field_name="project_id", max_length=32)

    class Meta:
        model = Specialist
        fields = ["skill", "level", "lifecycle", "project_id"]


class TrainingJobFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=TrainingJob.Status.choices)
    purpose = django_filters.ChoiceFilter(choices=TrainingJob.Purpose.choices)
    specialist_id = django_filters.CharFilter(field_name="specialist_id", max_length=32)

    class Meta:
        model = TrainingJob
        fields = ["status", "purpose", "specialist_id"]
