"""Admin for agents and their keys. Keys are created by the command or the dashboard (the
plaintext is shown once), so the admin lists and revokes them but never edits a hash."""

from django.contrib import admin

from access.actors import actor_for_user
from access.keys import agent_key_revoke
from access.models import Agent, AgentKey


class AgentKeyInline(admin.TabularInline):
    model = AgentKey
    extra = 0
    can_delete = False
    fields = ("prefix", "is_privileged", "created_at", "expires_at", "revoked_at", "last_used_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ("name", "created_at")
    search_fields = ("name",)
    inlines = [AgentKeyInline]


@admin.register(AgentKey)
class AgentKeyAdmin(admin.ModelAdmin):
    list_display = ("prefix", "agent", "is_privileged", "created_at", "last_used_at", "revoked_at")
    list_filter = ("is_privileged",)
    search_fields = ("prefix", "agent__name")
    list_select_related = ("agent",)
    actions = ["revoke"]
    readonly_fields = [f.name for f in AgentKey._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # "change" here means running the actions (services); the detail page is read-only.
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke(self, request, queryset):
        # Through the service, one key at a time, so each revocation is audited.
        actor = actor_for_user(request.user)
        count = 0
        for key in queryset.filter(revoked_at__isnull=True):
            agent_key_revoke(prefix=key.prefix, actor=actor)
            count += 1
        self.message_user(request, f"Revoked {count} key(s).")
