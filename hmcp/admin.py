"""HMCP in the org's admin. The admin is just another client: skills and the hierarchy policy
are saved through the registry services, specialists move only through admin actions that
call the lifecycle services; training jobs are read-only. Rights come from the role matrix."""

from __future__ import annotations

from django.contrib import admin, messages

from access.actors import actor_for_user
from access.permissions import actor_can
from governance.admin import SingletonPolicyAdmin
from hmcp.models import HierarchyPolicy, Skill, Specialist, TrainingJob
from hmcp.registry import (
    POLICY_FIELDS,
    SKILL_FIELDS,
    hierarchy_policy_update,
    skill_create,
    skill_delete,
    skill_update,
)
from hmcp.services import specialist_transition
from hmcp.training import training_jobs_requeue_expired
from metaqore_site.badges import badge
from metaqore_site.errors import GovernanceError


def _can(request, action: str) -> bool:
    return request.user.is_active and actor_can(actor_for_user(request.user), action)


@admin.register(Skill)
class SkillAdmin(admin.ModelAdmin):
    list_display = (
        "skill_id",
        "parent_agent",
        "max_specialist_size_mb",
        "created_by",
        "updated_at",
    )
    search_fields = ("skill_id", "description", "parent_agent")
    fields = (*SKILL_FIELDS, "created_by", "created_at", "updated_at")

    def get_readonly_fields(self, request, obj=None):
        managed = ("created_by", "created_at", "updated_at")
        return (*managed, "skill_id") if obj else managed

    def has_add_permission(self, request):
        return _can(request, "manage_skills")

    def has_change_permission(self, request, obj=None):
        return _can(request, "manage_skills")

    def has_delete_permission(self, request, obj=None):
        in_use = obj is not None and obj.specialists.exists()
        return _can(request, "manage_skills") and not in_use

    def save_model(self, request, obj, form, change):
        actor = actor_for_user(request.user)
        if change:
            changes = {name: form.cleaned_data[name] for name in form.changed_data}
            fresh = skill_update(skill=obj, actor=actor, changes=changes)
        else:
            values = {name: form.cleaned_data[name] for name in SKILL_FIELDS}
            fresh = skill_create(actor=actor, **values)
        obj.pk, obj.created_by = fresh.pk, fresh.created_by
        obj.created_at, obj.updated_at = fresh.created_at, fresh.updated_at
        obj._state.adding = False

    def delete_model(self, request, obj):
        skill_delete(skill=obj, actor=actor_for_user(request.user))

    def delete_queryset(self, request, queryset):
        actor = actor_for_user(request.user)
        for skill in queryset:
            try:
                skill_delete(skill=skill, actor=actor)
            except GovernanceError as exc:
                self.message_user(request, exc.detail, messages.ERROR)


@admin.register(HierarchyPolicy)
class HierarchyPolicyAdmin(SingletonPolicyAdmin):
    list_display = ("__str__", "chaining_depth", "spawn_min_confidence", "updated_by", "updated_at")
    fields = (*POLICY_FIELDS, "revision", "updated_by", "updated_at")
    update_policy = staticmethod(hierarchy_policy_update)

    def has_change_permission(self, request, obj=None):
        return _can(request, "change_policy")


def _move_action(target: str, verb: str):
    @admin.action(description=f"{verb.capitalize()} selected specialists", permissions=["change"])
    def move_selected(modeladmin, request, queryset):
        actor = actor_for_user(request.user)
        done = 0
        for specialist in queryset.exclude(lifecycle__in=Specialist.TERMINAL):
            try:
                specialist_transition(
                    specialist=specialist,
                    actor=actor,
                    to=target,
                    reason=f"{verb} in the admin by {request.user.get_username()}",
                )
                done += 1
            except GovernanceError as exc:
                modeladmin.message_user(request, f"{specialist.id}: {exc.detail}", messages.ERROR)
        modeladmin.message_user(request, f"{verb.capitalize()} {done} specialist(s).")

    move_selected.__name__ = f"{target}_selected"
    return move_selected


@admin.register(Specialist)
class SpecialistAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "skill",
        "level",
        "lifecycle_badge",
        "project",
        "invocations",
        "activation_score",
        "created_by",
        "created_at",
    )
    list_filter = ("lifecycle", "level")
    search_fields = ("id", "skill__skill_id", "created_by")
    list_select_related = ("skill", "project")
    date_hierarchy = "created_at"
    actions = [_move_action("deprecated", "deprecated"), _move_action("blocked", "blocked")]

    @admin.display(description="lifecycle", ordering="lifecycle")
    def lifecycle_badge(self, obj):
        return badge(obj.lifecycle)

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in Specialist._meta.fields]

    def has_change_permission(self, request, obj=None):
        # "change" here means running the actions (services); the detail page is read-only.
        return obj is None and super().has_change_permission(request)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(TrainingJob)
class TrainingJobAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "specialist",
        "purpose",
        "status_badge",
        "claimed_by",
        "lease_expires_at",
        "attempts",
        "created_at",
    )
    list_filter = ("status", "purpose")
    search_fields = ("id", "specialist__id", "claimed_by")
    list_select_related = ("specialist", "specialist__skill")
    actions = ["requeue_expired"]

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return badge(obj.status)

    def has_add_permission(self, request):
        return False

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in TrainingJob._meta.fields]

    def has_change_permission(self, request, obj=None):
        # "change" here means running the actions (services); the detail page is read-only.
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Re-queue jobs whose lease expired", permissions=["change"])
    def requeue_expired(self, request, queryset):
        ids = training_jobs_requeue_expired(job_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"Re-queued {len(ids)} job(s).")
