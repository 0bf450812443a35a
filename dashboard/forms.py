"""Dashboard forms: field validation only; the services decide and audit."""

from __future__ import annotations

from django import forms

from access.roles import ROLES
from artifacts.models import Conflict
from governance.models import GovernancePolicy
from governance.provider_routing import canonical_policy


class ResolveForm(forms.Form):
    strategy = forms.ChoiceField(
        choices=[
            (value, Conflict.Strategy(value).label) for value in Conflict.RESOLUTION_STRATEGIES
        ]
    )
    note = forms.CharField(
        required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
    )


class BulkResolveForm(forms.Form):
    bulk_strategy = forms.ChoiceField(
        choices=[(Conflict.Strategy.OVERRIDE, "override"), (Conflict.Strategy.MERGE, "merge")]
    )


class PolicyForm(forms.Form):
    mode = forms.ChoiceField(choices=GovernancePolicy.Mode.choices)
    routing_policy = forms.ChoiceField(choices=GovernancePolicy.RoutingPolicy.choices)
    auto_archive_superseded = forms.BooleanField(required=False)

    def clean_routing_policy(self):
        return canonical_policy(self.cleaned_data["routing_policy"])


class AgentKeyForm(forms.Form):
    agent = forms.CharField(max_length=200)
    privileged = forms.BooleanField(required=False)
    expires_in_days = forms.IntegerField(required=False, min_value=1, max_value=3650)


class UserForm(forms.Form):
    username = forms.RegexField(regex=r"^[\w.@+-]{1,150}$", max_length=150)
    password = forms.CharField(min_length=10, max_length=128, widget=forms.PasswordInput)
    roles = forms.MultipleChoiceField(
        choices=[(role, role.replace("_", " ")) for role in ROLES],
        widget=forms.CheckboxSelectMultiple,
    )


class TransitionForm(forms.Form):
    to = forms.ChoiceField(choices=[("active", "active"), ("archived", "archived")])
    reason = forms.CharField(required=False, max_length=2000)
