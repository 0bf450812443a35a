"""Providers: every role reads them (availability, latency, priority); org admins add and
edit them through ``governance.providers`` (audited), as the API allows (manage_providers)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404, redirect

from dashboard.forms import ProviderEditForm, ProviderForm
from dashboard.views.base import DashboardPage
from governance.models import GovernancePolicy, Provider
from governance.provider_routing import allowed_providers
from governance.providers import provider_create, provider_update
from projects.sensitivity import SENSITIVITY_LEVELS


class ProvidersView(DashboardPage):
    template_name = "dashboard/providers.html"
    nav_key = "providers"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        policy = GovernancePolicy.load()
        providers = list(Provider.objects.order_by("priority", "name"))
        context.update(
            providers=providers,
            can_manage=self.can("manage_providers"),
            form=kwargs.get("form") or ProviderForm(),
            routing_policy=policy.routing_policy,
            routing=[
                (sensitivity, allowed_providers(policy.routing_policy, sensitivity))
                for sensitivity in SENSITIVITY_LEVELS
            ],
        )
        return context

    def post(self, request, *args, **kwargs):
        self.require("manage_providers")
        if "toggle" in request.POST:
            provider = get_object_or_404(Provider, name=request.POST["toggle"][:100])
            available = not provider.available
            self.governed(
                lambda: provider_update(
                    provider=provider, actor=self.actor, changes={"available": available}
                ),
                f"{provider.name} is now {'available' if available else 'unavailable'}.",
            )
            return redirect("dashboard:providers")
        form = ProviderForm(request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        done = self.governed(
            lambda: provider_create(actor=self.actor, **form.cleaned_data),
            f"Provider {form.cleaned_data['name']} added.",
        )
        if not done:
            return self.render_to_response(self.get_context_data(form=form), status=400)
        return redirect("dashboard:providers")


class ProviderDetailView(DashboardPage):
    template_name = "dashboard/provider_detail.html"
    nav_key = "providers"
    required_action = "manage_providers"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        provider = get_object_or_404(Provider, name=self.kwargs["name"])
        context.update(
            provider=provider, form=kwargs.get("form") or ProviderEditForm(instance=provider)
        )
        return context

    def post(self, request, *args, **kwargs):
        provider = get_object_or_404(Provider, name=self.kwargs["name"])
        form = ProviderEditForm(request.POST, instance=Provider.objects.get(pk=provider.pk))
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        changes = {name: form.cleaned_data[name] for name in form.changed_data}
        self.governed(
            lambda: provider_update(provider=provider, actor=self.actor, changes=changes),
            f"Provider {provider.name} saved.",
        )
        return redirect("dashboard:providers")
