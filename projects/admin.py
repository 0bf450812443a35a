"""Admin for projects and tasks: saves and deletes go through the services."""

from django.contrib import admin

from access.actors import Actor
from projects import services
from projects.models import Project, Task


def admin_actor(request) -> Actor:
    return Actor(kind="user", name=request.user.get_username())


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "status", "owner_id", "created_at")
    list_filter = ("status",)
    search_fields = ("id", "name", "owner_id")
    date_hierarchy = "created_at"
    readonly_fields = ("id", "created_at", "updated_at")

    def save_model(self, request, obj, form, change):
        if change:
            changes = {name: form.cleaned_data[name] for name in form.changed_data}
            fresh = Project.objects.get(pk=obj.pk)
            services.project_update(project=fresh, actor=admin_actor(request), changes=changes)
        else:
            fields = {
                name: form.cleaned_data[name]
                for name in services.PROJECT_FIELDS
                if name in form.cleaned_data
            }
            created = services.project_create(actor=admin_actor(request), **fields)
            obj.pk = created.pk

    def delete_model(self, request, obj):
        services.project_delete(project=obj, actor=admin_actor(request))

    def delete_queryset(self, request, queryset):
        for project in queryset:
            services.project_delete(project=project, actor=admin_actor(request))


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ("id", "title", "project", "status", "assigned_to", "created_at")
    list_filter = ("status",)
    search_fields = ("id", "title", "assigned_to")
    date_hierarchy = "created_at"
    list_select_related = ("project",)
    raw_id_fields = ("project",)
    readonly_fields = ("id", "created_at", "updated_at", "completed_at")

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "project") if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            changes = {name: form.cleaned_data[name] for name in form.changed_data}
            fresh = Task.objects.select_related("project").get(pk=obj.pk)
            services.task_update(task=fresh, actor=admin_actor(request), changes=changes)
        else:
            fields = {
                name: form.cleaned_data[name]
                for name in services.TASK_FIELDS
                if name in form.cleaned_data
            }
            created = services.task_create(
                actor=admin_actor(request), project=form.cleaned_data["project"], **fields
            )
            obj.pk = created.pk

    def delete_model(self, request, obj):
        services.task_delete(task=obj, actor=admin_actor(request))

    def delete_queryset(self, request, queryset):
        for task in queryset:
            services.task_delete(task=task, actor=admin_actor(request))
