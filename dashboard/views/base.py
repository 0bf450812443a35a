"""What every dashboard page shares: login, the role check, the acting user as an Actor."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cached_property

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.views.generic import TemplateView

from access.actors import Actor, actor_for_user
from access.permissions import actor_can
from metaqore_site.errors import GovernanceError

NAV = [
    ("overview", "Overview", "read"),
    ("conflicts", "Conflicts", "read"),
    ("projects", "Projects", "read"),
    ("audit", "Audit trail", "read_audit"),
    ("erasures", "Erasures", "read_audit"),
    ("specialists", "Specialists", "read"),
    ("providers", "Providers", "read"),
    ("policy", "Policy", "change_policy"),
    ("rules", "Rules", "simulate_policy"),
    ("waivers", "Waivers", "read"),
    ("decisions", "Decision log", "read"),
    ("webhooks", "Webhooks", "manage_webhooks"),
    ("jobs", "Jobs", "manage_jobs"),
    ("keys", "Agents & keys", "manage_keys"),
    ("users", "Users & roles", "manage_keys"),
    ("lockouts", "Locked accounts", "manage_keys"),
]


def text_filters(
    filters: Mapping[str, str], fields: Iterable[tuple[str, str, str, str]]
) -> list[dict[str, str]]:
    """The free-text fields of a list page's filter panel (``dashboard/_filter_panel.html``):
    each ``(id, name, label, placeholder)`` with the value the page is filtered by now."""
    return [
        {
            "id": id_,
            "name": name,
            "label": label,
            "placeholder": placeholder,
            "value": filters.get(name) or "",
        }
        for id_, name, label, placeholder in fields
    ]


class DashboardMixin(LoginRequiredMixin):
    """Login required; ``required_action`` (access.permissions) decides access."""

    required_action = "read"
    nav_key = ""

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not self.can(self.required_action):
            raise PermissionDenied(f"Your role does not allow '{self.required_action}'.")
        return super().dispatch(request, *args, **kwargs)

    @cached_property
    def actor(self) -> Actor:
        return actor_for_user(self.request.user)

    def can(self, action: str) -> bool:
        return actor_can(self.actor, action)

    def require(self, action: str) -> None:
        """For writes on a page that more roles may read: 403 unless the role allows it."""
        if not self.can(action):
            raise PermissionDenied(f"Your role does not allow '{action}'.")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["nav"] = [
            {"key": key, "label": label, "url": f"dashboard:{key}", "active": key == self.nav_key}
            for key, label, action in NAV
            if self.can(action)
        ]
        context["actor"] = self.actor
        context["organization"] = getattr(self.request, "tenant", None)
        return context

    def governed(self, action, success: str) -> bool:
        """Run a service call; turn governance refusals into messages (no 500s)."""
        try:
            action()
        except GovernanceError as exc:
            messages.error(self.request, exc.detail)
            return False
        except (ValueError, LookupError) as exc:
            messages.error(self.request, str(exc))
            return False
        messages.success(self.request, success)
        return True

    def governed_form(self, form, action, success: str) -> bool:
        """``governed`` for a form's service call: the service's field errors (a Django
        ValidationError) go back onto the form instead of a message."""
        try:
            return self.governed(action, success)
        except ValidationError as exc:
            form.add_error(None, exc)
            return False


class DashboardPage(DashboardMixin, TemplateView):
    pass
