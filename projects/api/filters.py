import django_filters

from projects.models import Project, Task


class ProjectFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Project.Status.choices)
    search = django_filters.CharFilter(field_name="name", lookup_expr="icontains", max_length=200)

    class Meta:
        model = Project
        fields = ["status", "search"]


class TaskFilter(django_filters.FilterSet):
    project_id = django_filters.CharFilter(field_name="project_id", max_length=32)
    status = django_filters.ChoiceFilter(choices=Task.Status.choices)
    assigned_to = django_filters.CharFilter(max_length=200)
    sensitivity = django_filters.ChoiceFilter(choices=Task.Sensitivity.choices)

    class Meta:
        model = Task
        fields = ["project_id", "status", "assigned_to", "sensitivity"]
