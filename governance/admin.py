"""Governance in the org's admin: the policy, edited through ``policy_update`` (checked and
audited, never added or deleted), and conflicts, read-only and resolved by admin actions that
call ``conflict_resolve``; policy revisions, waivers and the decision log, read-only (waivers
are revoked by an action that calls ``waiver_revoke``)."""

from typing import Any, Protocol

from django import forms
from django.contrib import admin, messages

from access.actors import Actor, actor_for_user
from artifacts.models import Conflict
from governance.models import (
    AdmissionDecision,
    GovernancePolicy,
    PolicyRevision,
    Provider,
    SingletonPolicy,
    Waiver,
)
from governance.policy import EDITABLE_FIELDS, policy_update
from governance.providers import (
    PROVIDER_FIELDS,
    provider_create,
    provider_delete,
    provider_update,
)
from governance.resolution import conflict_resolve
from governance.rules import RulesInvalid, clean_rules
from governance.waivers import waiver_revoke
from metaqore_site.badges import available_badge, badge
from metaqore_site.errors import GovernanceError


class PolicyUpdate(Protocol):
    def __call__(self, *, actor: Actor, changes: dict[str, Any]) -> SingletonPolicy: ...


class SingletonPolicyAdmin(admin.ModelAdmin):
    """A per-org policy row: edited, never added or deleted; saves go through ``update_policy``
    (a service taking ``actor`` and ``changes``) so they are checked and audited."""

    readonly_fields = ("revision", "updated_by", "updated_at")
    update_policy: PolicyUpdate | None = None  # set by each policy's admin

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        changes = {name: form.cleaned_data[name] for name in form.changed_data}
        assert self.update_policy is not None  # every concrete policy admin sets it
        fresh = self.update_policy(actor=actor_for_user(request.user), changes=changes)
        obj.revision, obj.updated_by = fresh.revision, fresh.updated_by


class GovernancePolicyForm(forms.ModelForm):
    """Rules are checked on the form (each bad rule and field named), not in ``save_model``."""

    class Meta:
        model = GovernancePolicy
        fields = EDITABLE_FIELDS

    def clean_rules(self):
        rules = self.cleaned_data["rules"]
        try:
            clean_rules(rules)
        except RulesInvalid as exc:
            raise forms.ValidationError(exc.messages) from exc
        return rules


@admin.register(GovernancePolicy)
class GovernancePolicyAdmin(SingletonPolicyAdmin):
    form = GovernancePolicyForm
    list_display = ("mode", "auto_archive_superseded", "revision", "updated_by", "updated_at")
    fields = (*EDITABLE_FIELDS, "revision", "updated_by", "updated_at")
    update_policy = staticmethod(policy_update)


def _resolve_action(strategy: str):
    @admin.action(description=f"Resolve selected conflicts: {strategy}", permissions=["change"])
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
    return action


@admin.register(Conflict)
class ConflictAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "conflict_type",
        "severity_badge",
        "status_badge",
        "artifact",
        "project",
        "resolved_by",
        "created_at",
    )
    list_filter = ("status", "severity", "conflict_type")
    search_fields = ("id", "artifact__id", "project__name", "description")
    date_hierarchy = "created_at"
    list_select_related = ("artifact", "project")
    actions = [_resolve_action(strategy) for strategy in Conflict.RESOLUTION_STRATEGIES]

    @admin.display(description="severity", ordering="severity")
    def severity_badge(self, obj):
        return badge(obj.severity)

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return badge(obj.status)

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in Conflict._meta.fields]

    def has_change_permission(self, request, obj=None):
        # "change" here means running the actions (services); the detail page is read-only.
        return obj is None and super().has_change_permission(request)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    """Model providers, saved and deleted through ``governance.providers`` (audited)."""

    list_display = ("name", "kind_badge", "status", "latency_ms", "capacity_score", "priority")
    list_filter = ("kind", "available")
    search_fields = ("name",)
    fields = (*PROVIDER_FIELDS, "updated_at")
    readonly_fields = ("updated_at",)
    actions = None

    @admin.display(description="kind", ordering="kind")
    def kind_badge(self, obj):
        return badge(obj.kind)

    @admin.display(description="status", ordering="available")
    def status(self, obj):
        return available_badge(obj.available)

    def get_readonly_fields(self, request, obj=None):
        return ("name", *self.readonly_fields) if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        actor = actor_for_user(request.user)
        if change:
            changes = {name: form.cleaned_data[name] for name in form.changed_data}
            fresh = provider_update(provider=obj, actor=actor, changes=changes)
        else:
            values = {name: form.cleaned_data[name] for name in PROVIDER_FIELDS}
            fresh = provider_create(actor=actor, **values)
        obj.pk, obj.updated_at = fresh.pk, fresh.updated_at
        obj._state.adding = False

    def delete_model(self, request, obj):
        provider_delete(provider=obj, actor=actor_for_user(request.user))


class ReadOnlyAdmin(admin.ModelAdmin):
    """A record written only by its service: listed and shown, never edited here."""

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(PolicyRevision)
class PolicyRevisionAdmin(ReadOnlyAdmin):
    """Kept revisions of the policy (restore one from the dashboard or the API)."""

    list_display = ("number", "created_by", "created_at", "restored_from")
    actions = None


@admin.register(AdmissionDecision)
class AdmissionDecisionAdmin(ReadOnlyAdmin):
    """The decision log: append-only (the database refuses changes)."""

    list_display = ("id", "created_at", "artifact_type", "agent", "outcome", "policy_revision")
    list_filter = ("outcome", "kind", "mode")
    search_fields = ("id", "artifact_id", "project_id", "agent")
    date_hierarchy = "created_at"
    actions = None


@admin.action(description="Revoke selected waivers", permissions=["change"])
def revoke_waivers(modeladmin, request, queryset):
    actor = actor_for_user(request.user)
    for waiver in queryset:
        try:
            waiver_revoke(waiver=waiver, actor=actor, reason="revoked in the admin")
            modeladmin.message_user(request, f"{waiver.id} revoked.", messages.SUCCESS)
        except GovernanceError as exc:
            modeladmin.message_user(request, f"{waiver.id}: {exc.detail}", messages.ERROR)


@admin.register(Waiver)
class WaiverAdmin(ReadOnlyAdmin):
    """Waivers are granted in the dashboard or the API (end date and justification required);
    here they are listed and revoked (``waiver_revoke``, audited)."""

    list_display = ("id", "expires_at", "created_by", "revoked_at", "use_count")
    search_fields = ("id", "justification", "created_by")
    actions = [revoke_waivers]

    def has_change_permission(self, request, obj=None):
        # "change" means running the revoke action (a service); the detail page is read-only.
        return obj is None and request.user.has_perm("governance.change_waiver")
