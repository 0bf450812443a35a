"""Platform admin (bare host only): organizations and their domains."""

from django.contrib import admin
from django.db import connection
from django_tenants.utils import get_public_schema_name

from access.actors import Actor
from metaqore_site.db_roles import can_create_schemas
from tenants.models import Domain, Organization, schema_name_for
from tenants.services import organization_start


class PublicSchemaOnlyAdmin(admin.ModelAdmin):
    """Organizations are managed from the platform host, never from inside an org."""

    def has_module_permission(self, request):
        return connection.schema_name == get_public_schema_name() and super().has_module_permission(
            request
        )

    def has_view_permission(self, request, obj=None):
        return connection.schema_name == get_public_schema_name() and super().has_view_permission(
            request, obj
        )


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0


@admin.register(Organization)
class OrganizationAdmin(PublicSchemaOnlyAdmin):
    list_display = ("slug", "name", "schema_name", "created_at")
    search_fields = ("slug", "name")
    readonly_fields = ("schema_name", "created_at")
    inlines = [DomainInline]

    def has_add_permission(self, request):
        # A new org is a new schema: the runtime database role (README "Security") may not
        # create one, so the platform admin offers no "add" there; use `manage.py create_org`.
        return super().has_add_permission(request) and can_create_schemas()

    def get_readonly_fields(self, request, obj=None):
        # The slug names the schema; changing it later would orphan the data.
        return (*self.readonly_fields, "slug") if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if not change:
            obj.schema_name = schema_name_for(obj.slug)
        super().save_model(request, obj, form, change)
        if not change:  # the org's trail starts here too when it is created from the admin
            actor = Actor(kind="user", name=request.user.get_username())
            organization_start(obj, actor=actor, via="admin")


@admin.register(Domain)
class DomainAdmin(PublicSchemaOnlyAdmin):
    list_display = ("domain", "tenant", "is_primary")
    search_fields = ("domain", "tenant__slug")
