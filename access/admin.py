"""Admin for agents and their keys, users and roles. Keys are created by the command or the
dashboard (the plaintext is shown once), so the admin lists and revokes them but never edits a
hash. Users and roles change only through ``access.users`` (audited)."""

from contextvars import ContextVar

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.contrib.auth.models import Group

from access.actors import Actor, actor_for_user
from access.keys import agent_key_revoke
from access.models import Agent, AgentKey
from access.users import (
    EDITABLE_FIELDS,
    in_organization,
    permissions_set,
    roles_set,
    user_create,
    user_delete,
    user_set_password,
    user_update,
)
from metaqore_site.badges import badge


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
    list_display = ("prefix", "agent", "kind", "status", "created_at", "last_used_at")
    list_filter = ("is_privileged",)
    search_fields = ("prefix", "agent__name")
    list_select_related = ("agent",)
    actions = ["revoke"]
    readonly_fields = [f.name for f in AgentKey._meta.fields]

    @admin.display(description="kind", ordering="is_privileged")
    def kind(self, obj):
        return badge("privileged", "escalated") if obj.is_privileged else "plain"

    @admin.display(description="status")
    def status(self, obj):
        if obj.is_active:
            return badge("active")
        return badge("revoked" if obj.revoked_at else "expired", "archived")

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


# --- users and roles: the admin is another client of access.users -----------------------------


def _admin_actor(request) -> Actor:
    return actor_for_user(request.user)


# The acting admin user of the password change being handled (this thread or task only).
_password_actor: ContextVar[Actor | None] = ContextVar("access_password_actor", default=None)


class AuditedPasswordChangeForm(AdminPasswordChangeForm):
    """Sets the password through ``user_set_password`` (``user.password_changed``)."""

    def save(self, commit=True):
        actor = _password_actor.get()
        if actor is None:
            raise RuntimeError("AuditedPasswordChangeForm is used by GovernedUserAdmin only.")
        usable = self.cleaned_data.get("set_usable_password", True)
        password = self.cleaned_data["password1"] if usable else None
        saved = user_set_password(user=self.user, password=password, actor=actor)
        self.user.password = saved.password
        return self.user


class GovernedUserAdmin(UserAdmin):
    """Django's user admin, every write through ``access.users`` (one event per change)."""

    change_password_form = AuditedPasswordChangeForm
    # Only a superuser hands out superuser status or single permissions; an org admin gives
    # roles (the groups, whose permissions are access.role_permissions).
    SUPERUSER_ONLY = ("is_superuser", "user_permissions")

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if request.user.is_superuser:
            return fieldsets
        return [
            (
                name,
                {
                    **options,
                    "fields": [f for f in options["fields"] if f not in self.SUPERUSER_ONLY],
                },
            )
            for name, options in fieldsets
        ]

    def user_change_password(self, request, id, form_url=""):
        token = _password_actor.set(_admin_actor(request))
        try:
            return super().user_change_password(request, id, form_url)
        finally:
            _password_actor.reset(token)

    def save_model(self, request, obj, form, change):
        actor = _admin_actor(request)
        if not change:
            usable = form.cleaned_data.get("set_usable_password", True)
            created = user_create(
                username=obj.get_username(),
                password=form.cleaned_data.get("password1") if usable else None,
                email=obj.email,
                is_staff=obj.is_staff,
                is_superuser=obj.is_superuser,
                actor=actor,
            )
            obj.pk, obj._state = created.pk, created._state
            return
        changed = [name for name in form.changed_data if name in EDITABLE_FIELDS]
        changes = {name: getattr(obj, name) for name in changed}
        user_update(user=obj, actor=actor, changes=changes)

    def save_related(self, request, form, formsets, change):
        actor = _admin_actor(request)
        user = form.instance
        if "groups" in form.cleaned_data:
            roles_set(user=user, roles=[g.name for g in form.cleaned_data["groups"]], actor=actor)
        if "user_permissions" in form.cleaned_data:
            permissions_set(
                user=user, permissions=form.cleaned_data["user_permissions"], actor=actor
            )
        for formset in formsets:  # none by default; kept for subclasses' inlines
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request, obj):
        user_delete(user=obj, actor=_admin_actor(request))

    def delete_queryset(self, request, queryset):
        actor = _admin_actor(request)
        for user in queryset:
            user_delete(user=user, actor=actor)


class GovernedGroupAdmin(GroupAdmin):
    """An organization's groups are its four roles, created with the org: read-only there
    (a role is given or taken on the user). The platform's own groups stay editable."""

    def has_add_permission(self, request):
        return not in_organization() and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        return not in_organization() and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not in_organization() and super().has_delete_permission(request, obj)


User = get_user_model()
admin.site.unregister(User)
admin.site.register(User, GovernedUserAdmin)
admin.site.unregister(Group)
admin.site.register(Group, GovernedGroupAdmin)
