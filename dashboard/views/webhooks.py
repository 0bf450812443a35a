"""Webhooks (org admins, ``manage_webhooks``): create, edit, pause and resume, send a test
event, and the delivery log with status codes and retries. Writes go through
``events.webhooks`` (SSRF guard, audited)."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect

from dashboard.forms import WebhookForm
from dashboard.views.base import DashboardPage
from events.models import Webhook, WebhookDelivery
from events.webhooks import (
    WebhookError,
    webhook_create,
    webhook_delete,
    webhook_test_send,
    webhook_update,
)

DELIVERIES_PER_PAGE = 50


def form_with_service_error(form: WebhookForm, exc: WebhookError) -> WebhookForm:
    """A refusal of the service (unsafe URL, bad pattern) shown on its field."""
    field = exc.field if exc.field in form.fields else None
    form.add_error(field, str(exc))
    return form


class WebhooksView(DashboardPage):
    template_name = "dashboard/webhooks.html"
    nav_key = "webhooks"
    required_action = "manage_webhooks"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            webhooks=Webhook.objects.order_by("created_at")[:200],
            form=kwargs.get("form") or WebhookForm(),
            # The generated secret is shown once, right after the webhook was created.
            new_secret=self.request.session.pop("new_webhook_secret", None),
        )
        return context

    def post(self, request, *args, **kwargs):
        form = WebhookForm(request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        data = form.cleaned_data
        try:
            webhook = webhook_create(actor=self.actor, **data)
        except WebhookError as exc:
            form = form_with_service_error(form, exc)
            return self.render_to_response(self.get_context_data(form=form), status=400)
        if not data["secret"]:
            request.session["new_webhook_secret"] = {"id": webhook.id, "secret": webhook.secret}
        messages.success(request, f"Webhook {webhook.id} created.")
        return redirect("dashboard:webhooks")


class WebhookDetailView(DashboardPage):
    template_name = "dashboard/webhook_detail.html"
    nav_key = "webhooks"
    required_action = "manage_webhooks"

    def get_webhook(self) -> Webhook:
        return get_object_or_404(Webhook, pk=self.kwargs["webhook_id"][:32])

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        webhook = self.get_webhook()
        deliveries = WebhookDelivery.objects.filter(webhook=webhook).order_by("-event_seq")
        status = self.request.GET.get("status", "")
        if status in WebhookDelivery.Status.values:
            deliveries = deliveries.filter(status=status)
        initial = {
            "url": webhook.url,
            "event_types": webhook.event_types,
            "description": webhook.description,
        }
        context.update(
            webhook=webhook,
            form=kwargs.get("form") or WebhookForm(initial=initial),
            page=Paginator(deliveries, DELIVERIES_PER_PAGE).get_page(self.request.GET.get("page")),
            status=status,
            statuses=WebhookDelivery.Status.values,
        )
        return context

    def post(self, request, *args, **kwargs):
        webhook = self.get_webhook()
        here = redirect("dashboard:webhook", webhook_id=webhook.id)
        if "pause" in request.POST or "resume" in request.POST:
            active = "resume" in request.POST
            self.governed(
                lambda: webhook_update(
                    webhook=webhook, actor=self.actor, changes={"active": active}
                ),
                f"Webhook {'resumed' if active else 'paused'}.",
            )
            return here
        if "test" in request.POST:
            self.governed(
                lambda: webhook_test_send(webhook=webhook, actor=self.actor),
                "Test event queued: the worker sends it in a moment (see the delivery log).",
            )
            return here
        if "delete" in request.POST:
            self.governed(
                lambda: webhook_delete(webhook=webhook, actor=self.actor),
                f"Webhook {webhook.id} deleted.",
            )
            return redirect("dashboard:webhooks")
        form = WebhookForm(request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        changes = {key: value for key, value in form.cleaned_data.items() if key != "secret"}
        if form.cleaned_data["secret"]:
            changes["secret"] = form.cleaned_data["secret"]
        try:
            webhook_update(webhook=webhook, actor=self.actor, changes=changes)
        except WebhookError as exc:
            form = form_with_service_error(form, exc)
            return self.render_to_response(self.get_context_data(form=form), status=400)
        messages.success(request, "Webhook saved.")
        return here
