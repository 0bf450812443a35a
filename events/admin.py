"""Webhooks in the org's admin (saved through their services) and their delivery log
(read-only: the worker writes it)."""

from django import forms
from django.contrib import admin

from access.actors import actor_for_user
from events.events import EventFilterError, parse_globs
from events.models import Webhook, WebhookDelivery
from events.ssrf import UnsafeWebhookURL, webhook_url_check
from events.webhooks import webhook_create, webhook_delete, webhook_update
from metaqore_site.badges import badge


class WebhookForm(forms.ModelForm):
    """Saving goes through events.webhooks (SSRF guard, audit events with the admin user)."""

    url = forms.CharField(max_length=2000, help_text="http(s) only; see the SSRF rules.")
    secret = forms.CharField(
        required=False,
        min_length=16,
        max_length=200,
        widget=forms.PasswordInput(render_value=False),
        help_text="HMAC key of X-MetaQore-Signature; leave empty to keep the current one.",
    )

    class Meta:
        model = Webhook
        fields = ("url", "event_types", "active", "description", "secret")

    def clean(self):
        data = super().clean()
        assert data is not None  # ModelForm.clean() returns cleaned_data
        if self.instance._state.adding and not data.get("secret"):
            self.add_error("secret", "Give the new webhook a secret (16 characters or more).")
        try:
            if data.get("url"):
                webhook_url_check(data["url"])
            data["event_types"] = list(parse_globs(data.get("event_types") or []))
        except UnsafeWebhookURL as exc:
            self.add_error("url", str(exc))
        except EventFilterError as exc:
            self.add_error("event_types", str(exc))
        return data


class WebhookDeliveryInline(admin.TabularInline):
    model = WebhookDelivery
    fields = ("event_seq", "event_type", "status", "attempts", "last_status_code", "last_error")
    readonly_fields = fields
    ordering = ("-event_seq",)
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    form = WebhookForm
    list_display = ("id", "url", "status", "failing_since", "disabled_at", "last_seq")
    list_filter = ("active",)
    readonly_fields = ("created_by", "last_seq", "failing_since", "disabled_at", "disabled_reason")
    inlines = [WebhookDeliveryInline]
    actions = None

    @admin.display(description="status", ordering="active")
    def status(self, obj):
        if obj.active:
            return badge("failing", "high") if obj.failing_since else badge("active")
        return badge("disabled", "critical") if obj.disabled_at else badge("paused", "archived")

    def save_model(self, request, obj, form, change):
        actor = actor_for_user(request.user)
        data = {name: form.cleaned_data[name] for name in WebhookForm.Meta.fields}
        if change:
            saved = webhook_update(webhook=obj, actor=actor, changes=data)
        else:
            saved = webhook_create(actor=actor, **data)
        obj.pk = saved.pk
        obj.refresh_from_db()

    def delete_model(self, request, obj):
        webhook_delete(webhook=obj, actor=actor_for_user(request.user))

    def get_inline_instances(self, request, obj=None):
        return super().get_inline_instances(request, obj) if obj is not None else []


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """The delivery log: read-only (the worker writes it)."""

    list_display = (
        "id",
        "webhook",
        "event_seq",
        "event_type",
        "status_badge",
        "attempts",
        "last_status_code",
    )
    list_display_links = ("id",)
    list_filter = ("status",)
    list_select_related = ("webhook",)
    ordering = ("-event_seq",)
    actions = None

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return badge(obj.status)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
