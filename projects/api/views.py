from metaqore_site.api.viewsets import GovernedViewSet
from projects import services
from projects.api.filters import ProjectFilter, TaskFilter
from projects.api.serializers import ProjectSerializer, TaskSerializer
from projects.models import Project, Task


class ProjectViewSet(GovernedViewSet):
    # The id breaks ties between rows created in the same microsecond: pages never overlap.
    queryset = Project.objects.order_by("-created_at", "-id")
    serializer_class = ProjectSerializer
    filterset_class = ProjectFilter

    def perform_create(self, serializer):
        serializer.instance = services.project_create(actor=self.actor, **serializer.validated_data)

    def perform_update(self, serializer):
        services.project_update(
            project=serializer.instance, actor=self.actor, changes=serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.project_delete(project=instance, actor=self.actor)


class TaskViewSet(GovernedViewSet):
    queryset = Task.objects.order_by("-created_at", "-id")
    serializer_class = TaskSerializer
    filterset_class = TaskFilter

    def perform_create(self, serializer):
        serializer.instance = services.task_create(actor=self.actor, **serializer.validated_data)

    def perform_update(self, serializer):
        changes = dict(serializer.validated_data)
        changes.pop("project", None)
        services.task_update(task=serializer.instance, actor=self.actor, changes=changes)

    def perform_destroy(self, instance):
        services.task_delete(task=instance, actor=self.actor)
