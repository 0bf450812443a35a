"""The job queue in the platform admin only (bare host): Procrastinate's tables hold every
organization's jobs, so an org's admin (inside its schema) must not list them; org admins use
the dashboard's Jobs page, which shows their org's jobs only."""

from django.contrib import admin
from django_tenants.utils import get_public_schema_name
from procrastinate.contrib.django.admin import ProcrastinateJobAdmin
from procrastinate.contrib.django.models import ProcrastinateJob

from metaqore_site.database import tenant_connection


def _on_platform_host() -> bool:
    return tenant_connection.schema_name == get_public_schema_name()


class PlatformJobAdmin(ProcrastinateJobAdmin):
    def has_module_permission(self, request):
        return _on_platform_host() and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return _on_platform_host() and super().has_view_permission(request, obj)


admin.site.unregister(ProcrastinateJob)
admin.site.register(ProcrastinateJob, PlatformJobAdmin)
