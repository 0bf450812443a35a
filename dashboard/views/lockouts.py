"""Locked accounts: an org admin sees who is locked out after failed logins and unlocks them."""

from __future__ import annotations

from django.shortcuts import redirect
from django.utils import timezone

from access.lockout import account_unlock, locked_accounts
from dashboard.views.base import DashboardPage


class LockoutsView(DashboardPage):
    template_name = "dashboard/lockouts.html"
    nav_key = "lockouts"
    required_action = "manage_keys"  # org_admin only, like users and keys

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        now = timezone.now()
        context["accounts"] = [(row, row.seconds_locked(now)) for row in locked_accounts()]
        return context

    def post(self, request, *args, **kwargs):
        username = request.POST.get("unlock", "")[:150]

        def unlock() -> None:
            if not account_unlock(username=username, actor=self.actor):
                raise LookupError(f"'{username}' has no lockout.")

        self.governed(unlock, f"{username} unlocked.")
        return redirect("dashboard:lockouts")
