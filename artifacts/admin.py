"""Artifacts in the org's admin: every save goes through PSMP governance and the audit trail
with the admin user as actor; refusals are shown as form errors, not server errors."""

from django import forms
from django.contrib import admin, messages

from access.actors import actor_for_user
from artifacts import psmp, services, ungoverned
from artifacts.models import Artifact, Conflict
from metaqore_site.badges import badge, blocked_badge
from metaqore_site.errors import GovernanceError


class ArtifactAdminForm(forms.ModelForm):
    class Meta:
        model = Artifact
        fields = [
            "project",
            "artifact_type",
            "state",
            "data",
            "depends_on",
            "file_paths",
            "requirements",
            "metadata",
        ]

    def clean(self):
        cleaned = super().clean()
        assert cleaned is not None  # ModelForm.clean() returns cleaned_data
        instance = self.instance
        if instance._state.adding:
            if cleaned.get("state") != Artifact.State.DRAFT:
                raise forms.ValidationError("A new artifact starts as a draft.")
            return cleaned
        current = Artifact.objects.get(pk=instance.pk)
        content_changed = any(name in self.changed_data for name in Artifact.CONTENT_FIELDS)
        if content_changed and current.state != Artifact.State.DRAFT:
            raise forms.ValidationError(
                f"This artifact is {current.state}: only drafts change; declare a new version."
            )
        target = cleaned.get("state")
        if target and target != current.state:
            try:
                psmp.check_transition(current, target)
            except GovernanceError as exc:
                raise forms.ValidationError(exc.detail) from exc
            if target == Artifact.State.ACTIVE:
                blockers = psmp.activation_blockers(current)
                if blockers:
                    raise forms.ValidationError(f"Cannot activate: {'; '.join(blockers)}.")
        return cleaned


class ConflictInline(admin.TabularInline):
    model = Conflict
    extra = 0
    can_delete = False
    fields = ("id", "conflict_type", "severity", "status", "hint", "resolved_by")
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Artifact)
class ArtifactAdmin(admin.ModelAdmin):
    form = ArtifactAdminForm
    list_display = (
        "id",
        "project",
        "artifact_type",
        "version",
        "state_badge",
        "blocked",
        "created_by",
        "created_at",
    )
    list_filter = ("state", "is_blocked", "artifact_type")
    search_fields = ("id", "artifact_type", "created_by", "project__name")
    date_hierarchy = "created_at"
    list_select_related = ("project",)
    raw_id_fields = ("project",)
    readonly_fields = ("id", "version", "created_by", "is_blocked", "content_hash", "created_at")
    inlines = [ConflictInline]
    actions = ["archive_selected"]

    @admin.display(description="state", ordering="state")
    def state_badge(self, obj):
        return badge(obj.state)

    @admin.display(description="blocked", ordering="is_blocked")
    def blocked(self, obj):
        return blocked_badge(obj.is_blocked)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return self.readonly_fields
        return (*self.readonly_fields, "project", "artifact_type")

    def save_model(self, request, obj, form, change):
        ungoverned.artifact_save_ungoverned(obj, actor=actor_for_user(request.user))

    def delete_model(self, request, obj):
        services.artifact_delete(artifact=obj, actor=actor_for_user(request.user))

    def delete_queryset(self, request, queryset):
        for artifact in queryset:
            services.artifact_delete(artifact=artifact, actor=actor_for_user(request.user))

    def has_delete_permission(self, request, obj=None):
        in_draft = obj is None or obj.state == Artifact.State.DRAFT
        return in_draft and super().has_delete_permission(request, obj)

    @admin.action(description="Archive selected artifacts", permissions=["change"])
    def archive_selected(self, request, queryset):
        actor = actor_for_user(request.user)
        done = 0
        for artifact in queryset.exclude(state=Artifact.State.ARCHIVED):
            services.artifact_transition(
                artifact=artifact, actor=actor, to="archived", reason="archived in the admin"
            )
            done += 1
        self.message_user(request, f"Archived {done} artifact(s).", messages.SUCCESS)
