"""Org admin pages: governance policy, agents and keys, users and roles (providers have their
own page, ``dashboard.views.providers``)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404, redirect

from access.keys import agent_key_create, agent_key_revoke
from access.models import AgentKey
from access.roles import ROLES
from access.users import roles_set, user_create, user_update
from dashboard.forms import AgentKeyForm, PolicyForm, UserForm
from dashboard.views.base import DashboardPage
from governance.models import GovernancePolicy
from governance.policy import policy_update


class PolicyView(DashboardPage):
    template_name = "dashboard/policy.html"
    nav_key = "policy"
    required_action = "change_policy"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        policy = GovernancePolicy.load()
        context.update(
            policy=policy,
            form=kwargs.get("form")
            or PolicyForm(
                initial={
                    "mode": policy.mode,
                    "routing_policy": policy.routing_policy,
                    "auto_archive_superseded": policy.auto_archive_superseded,
                    "max_waiver_days": policy.max_waiver_days,
                    "audit_retention_days": policy.audit_retention_days,
                }
            ),
        )
        return context

    def post(self, request, *args, **kwargs):
        form = PolicyForm(request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        changes = dict(form.cleaned_data)  # an empty retention window: keep the trail forever
        if changes["max_waiver_days"] is None:  # never empty in the policy: keep the current one
            del changes["max_waiver_days"]
        self.governed(lambda: policy_update(actor=self.actor, changes=changes), "Policy saved.")
        return redirect("dashboard:policy")


class AgentKeysView(DashboardPage):
    template_name = "dashboard/keys.html"
    nav_key = "keys"
    required_action = "manage_keys"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            form=kwargs.get("form") or AgentKeyForm(),
            keys=AgentKey.objects.select_related("agent").order_by("-created_at")[:500],
            # The plaintext key is shown once, right after it was created, then forgotten.
            new_key=self.request.session.pop("new_agent_key", None),
        )
        return context

    def post(self, request, *args, **kwargs):
        if "revoke" in request.POST:
            record = get_object_or_404(AgentKey, pk=request.POST["revoke"][:20])
            self.governed(
                lambda: agent_key_revoke(prefix=record.prefix, actor=self.actor),
                f"Key {record.prefix}… revoked.",
            )
            return redirect("dashboard:keys")
        form = AgentKeyForm(request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form))

        def create():
            new = agent_key_create(
                agent_name=form.cleaned_data["agent"],
                privileged=form.cleaned_data["privileged"],
                expires_in_days=form.cleaned_data["expires_in_days"],
                created_by=str(self.actor),
                actor=self.actor,
            )
            request.session["new_agent_key"] = {"key": new.key, "agent": new.record.agent.name}

        self.governed(create, "Key created. Copy it now: it is not shown again.")
        return redirect("dashboard:keys")


class UsersView(DashboardPage):
    template_name = "dashboard/users.html"
    nav_key = "users"
    required_action = "manage_keys"  # org_admin only

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        users = get_user_model().objects.prefetch_related("groups").order_by("username")[:500]
        context.update(
            form=kwargs.get("form") or UserForm(),
            users=[(user, sorted(g.name for g in user.groups.all())) for user in users],
            roles=ROLES,
        )
        return context

    def post(self, request, *args, **kwargs):
        User = get_user_model()
        if "set_roles" in request.POST:
            user = get_object_or_404(User, username=request.POST["set_roles"][:150])
            roles = [r for r in request.POST.getlist("roles") if r in ROLES]
            self.governed(
                lambda: roles_set(user=user, roles=roles, actor=self.actor),
                f"Roles of {user.username}: {', '.join(roles) or 'none'}.",
            )
            return redirect("dashboard:users")
        if "set_active" in request.POST:
            user = get_object_or_404(User, username=request.POST["set_active"][:150])
            active = request.POST.get("active") == "true"
            self.governed(
                lambda: user_update(user=user, actor=self.actor, changes={"is_active": active}),
                f"{user.username} is now {'active' if active else 'deactivated'}.",
            )
            return redirect("dashboard:users")
        form = UserForm(request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form))
        data = form.cleaned_data
        self.governed(
            lambda: user_create(
                username=data["username"],
                password=data["password"],
                roles=data["roles"],
                actor=self.actor,
            ),
            f"User {data['username']} created ({', '.join(data['roles'])}).",
        )
        return redirect("dashboard:users")
