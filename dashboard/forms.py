"""Dashboard forms: field validation only; the services decide and audit."""

from __future__ import annotations

import math
from datetime import UTC

from django import forms

from access.roles import ROLES
from artifacts.models import Conflict
from compliance.erasure import MAX_EQUALS, SubjectError, erasure_subject_clean
from governance.models import GovernancePolicy, Provider
from governance.provider_routing import canonical_policy
from governance.providers import PROVIDER_FIELDS
from governance.rules import ACTIONS, SEVERITIES
from hmcp.models import HierarchyPolicy, Skill
from hmcp.registry import POLICY_FIELDS, SKILL_FIELDS


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
    max_waiver_days = forms.IntegerField(
        required=False, min_value=1, max_value=365, label="Longest waiver (days)"
    )
    # Empty is a value here: keep the audit trail forever.
    audit_retention_days = forms.IntegerField(
        required=False, min_value=1, max_value=36500, label="Keep audit events (days)"
    )

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


class ProviderForm(forms.ModelForm):
    """A model provider (name and kind are fixed once created)."""

    class Meta:
        model = Provider
        fields = list(PROVIDER_FIELDS)


class ProviderEditForm(ProviderForm):
    class Meta(ProviderForm.Meta):
        fields = [name for name in PROVIDER_FIELDS if name not in ("name", "kind")]


class LinesField(forms.CharField):
    """A list of strings, one per line (or comma-separated)."""

    widget = forms.Textarea(attrs={"rows": 3})

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list | tuple) else value

    def to_python(self, value) -> list[str]:
        text = super().to_python(value) or ""
        return [item.strip() for item in text.replace(",", "\n").splitlines() if item.strip()]


class WebhookForm(forms.Form):
    url = forms.URLField(max_length=2000, assume_scheme="https")
    event_types = LinesField(
        required=False,
        max_length=2200,
        help_text="Patterns such as conflict.* or artifact.declared; empty: every live event.",
    )
    description = forms.CharField(required=False, max_length=200)
    secret = forms.CharField(
        required=False,
        min_length=16,
        max_length=200,
        widget=forms.PasswordInput(render_value=False),
        help_text="HMAC key of X-MetaQore-Signature. New webhook: leave empty to generate one "
        "(shown once). Existing: leave empty to keep it.",
    )


class SkillForm(forms.ModelForm):
    allowed_teachers = LinesField(required=False, max_length=20000)
    task_patterns = LinesField(required=False, max_length=100000)

    class Meta:
        model = Skill
        fields = list(SKILL_FIELDS)
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}


class SkillEditForm(SkillForm):
    class Meta(SkillForm.Meta):
        fields = [name for name in SKILL_FIELDS if name != "skill_id"]


class HierarchyPolicyForm(forms.ModelForm):
    class Meta:
        model = HierarchyPolicy
        fields = list(POLICY_FIELDS)


class SpecialistMoveForm(forms.Form):
    to = forms.ChoiceField(choices=[("deprecated", "deprecate"), ("blocked", "block")])
    reason = forms.CharField(max_length=2000)


def _names(text: str) -> list[str]:
    """``a, b c`` → ``["a", "b", "c"]`` (commas or spaces separate entries)."""
    return [item for item in text.replace(",", " ").split() if item]


class MatchForm(forms.Form):
    """What a rule or waiver matches; blank fields match everything."""

    conflict_types = forms.CharField(
        required=False,
        max_length=2000,
        help_text="e.g. parallel_creation file_path_collision (blank or * for all)",
    )
    min_severity = forms.ChoiceField(
        required=False, choices=[("", "any"), *[(s, s) for s in SEVERITIES]]
    )
    project_ids = forms.CharField(required=False, max_length=2000, help_text="proj_… ids")
    artifact_types = forms.CharField(required=False, max_length=2000, help_text="globs, e.g. docs*")
    agents = forms.CharField(required=False, max_length=2000, help_text="agent names")
    paths = forms.CharField(required=False, max_length=2000, help_text="globs, e.g. src/*")

    def match(self) -> dict:
        data = self.cleaned_data
        match: dict = {}
        for name in ("conflict_types", "project_ids", "artifact_types", "agents", "paths"):
            values = _names(data.get(name) or "")
            if values and values != ["*"]:
                match[name] = values
        if data.get("min_severity"):
            match["min_severity"] = data["min_severity"]
        return match


class RuleForm(MatchForm):
    field_order = ["id", "action", "description"]

    id = forms.SlugField(max_length=64, label="Rule id", help_text="e.g. no-parallel-code")
    action = forms.ChoiceField(choices=[(a, a) for a in ACTIONS], initial="dryrun")
    description = forms.CharField(required=False, max_length=1000)

    def rule(self) -> dict:
        data = self.cleaned_data
        return {
            "id": data["id"].lower(),
            "description": data["description"],
            "match": self.match(),
            "action": data["action"],
        }


class WaiverForm(MatchForm):
    field_order = ["justification", "expires_at"]

    justification = forms.CharField(max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))
    expires_at = forms.DateTimeField(
        label="Ends at (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Required; at most the policy's max_waiver_days ahead.",
    )

    def clean_expires_at(self):
        # In UTC: PostgreSQL refuses offsets Python accepts (beyond ±15:59).
        return self.cleaned_data["expires_at"].astimezone(UTC)


class ErasureForm(forms.Form):
    """A request to erase personal data: an actor, or the events whose payload field equals a
    value. The subject is checked as the API checks it (``erasure_subject_clean``)."""

    ACTOR, FIELD = "actor", "field"
    TEXT, NUMBER, BOOLEAN = "text", "number", "boolean"

    subject_kind = forms.ChoiceField(
        label="Erase",
        choices=[(ACTOR, "every event of an actor"), (FIELD, "events whose payload field equals")],
        initial=ACTOR,
    )
    actor = forms.CharField(
        required=False,
        max_length=206,
        help_text="agent:<name> or user:<name>",
        widget=forms.TextInput(
            attrs={"placeholder": "user:alice", "data-when": "subject_kind:actor"}
        ),
    )
    field = forms.CharField(
        required=False,
        max_length=1200,
        help_text="payload.<key>[.<key>…]",
        widget=forms.TextInput(
            attrs={"placeholder": "payload.email", "data-when": "subject_kind:field"}
        ),
    )
    equals = forms.CharField(
        required=False,
        max_length=MAX_EQUALS,
        strip=False,
        widget=forms.TextInput(attrs={"data-when": "subject_kind:field"}),
    )
    equals_type = forms.ChoiceField(
        label="Value is",
        choices=[(TEXT, "text"), (NUMBER, "a number"), (BOOLEAN, "true or false")],
        initial=TEXT,
        widget=forms.Select(attrs={"data-when": "subject_kind:field"}),
    )
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))

    def clean(self) -> dict:
        data = super().clean()
        if self.errors:
            return data
        if data["subject_kind"] == self.ACTOR:
            if not data["actor"]:
                self.add_error("actor", "Name the actor whose events are erased.")
                return data
            subject: object = data["actor"]
            error_field = "actor"
        else:
            if not data["field"]:
                self.add_error("field", "Name the payload field.")
                return data
            equals = self._typed_equals(data["equals"], data["equals_type"])
            if equals is None:
                return data
            subject = {"field": data["field"], "equals": equals}
            error_field = "field"
        try:
            data["subject"] = erasure_subject_clean(subject)
        except SubjectError as exc:
            self.add_error(error_field, str(exc))
        return data

    def _typed_equals(self, raw: str, kind: str) -> str | int | float | bool | None:
        if kind == self.TEXT:
            if raw == "":
                self.add_error("equals", "Give the value to erase.")
                return None
            return raw
        if kind == self.BOOLEAN:
            if raw.strip().lower() not in ("true", "false"):
                self.add_error("equals", "Give true or false.")
                return None
            return raw.strip().lower() == "true"
        try:
            number = float(raw)
        except ValueError:
            self.add_error("equals", "Give a number.")
            return None
        if not math.isfinite(number):
            self.add_error("equals", "Give a finite number.")
            return None
        return int(number) if number.is_integer() and "." not in raw else number
