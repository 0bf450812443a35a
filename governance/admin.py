"""Admin for agents and their keys. Keys are created by the command or the dashboard (the
plaintext is shown once), so the admin lists and revokes them but never edits a hash."""

from django.contrib import admin, messages

from governance.actors import Actor, actor_for_user
from governance.keys import agent_key_revoke
from governance.models import Agent, AgentKey, Conflict, GovernancePolicy
from governance.policy import EDITABLE_FIELDS, policy_update
from governance.resolution import conflict_resolve
from metaqore_site.api.exceptions import GovernanceError


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

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        # Through the service, one key at a time, so each revocation is audited.
        actor = Actor(kind="user", name=request.user.get_username())
        count = 0
        for key in queryset.filter(revoked_at__isnull=True):
            agent_key_revoke(prefix=key.prefix, actor=actor)
            count += 1
        self.message_user(request, f"Revoked {count} key(s).")


# --- governance state: policy and conflicts ------------------------------------------------


class SingletonPolicyAdmin(admin.ModelAdmin):
    """A per-org policy row: edited, never added or deleted; saves go through ``update_policy``
    (a service taking ``actor`` and ``changes``) so they are checked and audited."""

    readonly_fields = ("revision", "updated_by", "updated_at")
    update_policy = None

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        changes = {name: form.cleaned_data[name] for name in form.changed_data}
        fresh = self.update_policy(actor=actor_for_user(request.user), changes=changes)
        obj.revision, obj.updated_by = fresh.revision, fresh.updated_by


@admin.register(GovernancePolicy)
class GovernancePolicyAdmin(SingletonPolicyAdmin):
    list_display = ("mode", "auto_archive_superseded", "revision", "updated_by", "updated_at")
    fields = (*EDITABLE_FIELDS, "revision", "updated_by", "updated_at")
    update_policy = staticmethod(policy_update)


def _resolve_action(strategy: str):
    def action(modeladmin, request, queryset):
        actor = actor_for_user(request.user)
        done, refused = 0, []
        for conflict in queryset.filter(status__in=Conflict.UNRESOLVED):
            try:
                conflict_resolve(conflict=conflict, actor=actor, strategy=strategy, note="admin")
                done += 1
            except GovernanceError as exc:
                refused.append(f"{conflict.id}: {exc.detail}")
        modeladmin.message_user(request, f"{strategy}: {done} conflict(s).", messages.SUCCESS)
        for reason in refused:
            modeladmin.message_user(request, reason, messages.ERROR)

    action.__name__ = f"resolve_{strategy}"
    action.short_description = f"Resolve selected conflicts: {strategy}"
    return action


@admin.register(Conflict)
class ConflictAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "conflict_type",
        "severity",
        "status",
        "artifact",
        "project",
        "resolved_by",
        "created_at",
    )
    list_filter = ("status", "severity", "conflict_type")
    search_fields = ("id", "artifact__id", "project__name", "description")
    date_hierarchy = "created_at"
    list_select_related = ("artifact", "project")
    actions = [_resolve_action(strategy) for strategy in Conflict.Strategy.values]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in Conflict._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# HMCP: skills, hierarchy policy, specialists and training jobs.
from governance.specialists import admin as _specialists_admin  # noqa: E402, F401
