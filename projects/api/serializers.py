from rest_framework import serializers

from metaqore_site.api.fields import IdListField, JSONObjectField, PublicIdRelatedField
from metaqore_site.api.serializers import StrictCharField, StrictModelSerializer
from projects.models import Project, Task


class ProjectSerializer(StrictModelSerializer):
    metadata = JSONObjectField(required=False, default=dict)
    owner_id = StrictCharField(
        max_length=200, required=False, help_text="Defaults to the creating agent or user."
    )

    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "description",
            "owner_id",
            "status",
            "metadata",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]


class TaskSerializer(StrictModelSerializer):
    project_id = PublicIdRelatedField(source="project", queryset=Project.objects.all())
    depends_on = IdListField(prefix="task_", required=False, default=list)
    metadata = JSONObjectField(required=False, default=dict)
    sensitivity = serializers.ChoiceField(
        choices=Task.Sensitivity.choices,
        required=False,
        help_text="Computed from title, assignee and metadata flags (has_private_data, "
        "has_sensitive_data, is_security_task); a higher level may be asked, never a lower one.",
    )

    class Meta:
        model = Task
        fields = [
            "id",
            "project_id",
            "title",
            "description",
            "status",
            "assigned_to",
            "depends_on",
            "metadata",
            "sensitivity",
            "created_at",
            "updated_at",
            "completed_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at", "completed_at"]

    def validate_project_id(self, project):
        if self.instance is not None and project != self.instance.project:
            raise serializers.ValidationError("A task cannot move to another project.")
        return project
