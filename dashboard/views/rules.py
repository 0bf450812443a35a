"""Policy as rules in the dashboard: the Rules page (edit a draft — add, reorder, change an
action, remove —, simulate it against the decision log, then save it; each rule's counts for
the last 7 days; revisions and restore), Waivers, and the Decision log.

The draft lives in the user's session until it is saved; saving goes through
``governance.policy.policy_update`` like every other client (validated, audited, revisioned).
"""

from __future__ import annotations

from datetime import UTC
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from dashboard.forms import RuleForm, WaiverForm
from dashboard.views.base import DashboardPage, text_filters
from governance.models import AdmissionDecision, GovernancePolicy, PolicyRevision, Waiver
from governance.policy import policy_restore, policy_update
from governance.rules import ACTIONS, OUTCOMES, RulesInvalid, clean_rules
from governance.simulation import policy_simulate_change, rules_report
from governance.waivers import EXPIRING_SOON, waiver_create, waiver_revoke
from projects.models import Project

DRAFT = "rules_draft"
SIMULATION_WINDOWS = (100, 1000, 10000)
DECISIONS_PER_PAGE = 50
# The decision log's free-text filters: (id, name, label, placeholder)
DECISION_TEXT_FILTERS = (
    ("f-rule", "rule", "Rule", "rule id"),
    ("f-waiver", "waiver", "Waiver", "wvr_…"),
    ("f-since", "since", "Since", "2026-01-31T00:00"),
)


def match_summary(match: dict) -> list[str]:
    if not match:
        return ["every conflict"]
    parts = []
    for name, label in (
        ("conflict_types", "type"),
        ("min_severity", "severity ≥"),
        ("project_ids", "project"),
        ("artifact_types", "artifact type"),
        ("agents", "agent"),
        ("paths", "path"),
    ):
        if name in match:
            value = match[name]
            parts.append(f"{label} {', '.join(value) if isinstance(value, list) else value}")
    return parts


class RulesView(DashboardPage):
    template_name = "dashboard/rules.html"
    nav_key = "rules"
    required_action = "simulate_policy"

    def draft(self, policy: GovernancePolicy) -> list[dict] | None:
        """The unsaved rules of this user, if they differ from the policy in force."""
        draft = self.request.session.get(DRAFT) or {}
        rules = draft.get("rules")
        return rules if rules is not None and rules != policy.rules else None

    def draft_base(self, policy: GovernancePolicy) -> int:
        """The revision the draft started from (a save is refused if another one came since)."""
        return (self.request.session.get(DRAFT) or {}).get("base", policy.revision)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        policy = GovernancePolicy.load()
        draft = self.draft(policy)
        rules = draft if draft is not None else policy.rules
        report = rules_report(rules, days=7)["rules"]
        saved = {rule["id"]: rule for rule in policy.rules}
        context.update(
            policy=policy,
            draft=draft,
            draft_base=self.draft_base(policy) if draft is not None else None,
            rows=[
                {
                    **rule,
                    "summary": match_summary(rule.get("match") or {}),
                    "report": report[rule["id"]],
                    "changed": saved.get(rule["id"], {}).get("action") != rule["action"]
                    or saved.get(rule["id"], {}).get("match") != rule.get("match"),
                }
                for rule in rules
            ],
            actions=ACTIONS,
            form=kwargs.get("form") or RuleForm(),
            can_edit=self.can("change_policy"),
            windows=SIMULATION_WINDOWS,
            window=kwargs.get("window", 1000),
            modes=GovernancePolicy.Mode.values,
            simulated_mode=kwargs.get("simulated_mode"),
            simulation=kwargs.get("simulation"),
            revisions=PolicyRevision.objects.order_by("-number")[:10],
        )
        return context

    def post(self, request, *args, **kwargs):
        op = request.POST.get("op", "")
        policy = GovernancePolicy.load()
        draft = [dict(rule) for rule in (self.draft(policy) or policy.rules)]
        if op == "simulate":
            return self.simulate(draft, policy)
        self.require("change_policy")
        if op == "save":
            base = self.draft_base(policy)
            if self.governed(
                lambda: policy_update(
                    actor=self.actor, changes={"rules": draft}, expected_revision=base
                ),
                "Rules saved: a new policy revision is in force.",
            ):
                request.session.pop(DRAFT, None)
            return redirect("dashboard:rules")
        if op == "discard":
            request.session.pop(DRAFT, None)
            messages.info(request, "Draft discarded.")
            return redirect("dashboard:rules")
        if op == "restore":
            number = request.POST.get("revision", "")
            revision = get_object_or_404(
                PolicyRevision, number=int(number) if number.isdigit() else 0
            )
            if self.governed(
                lambda: policy_restore(actor=self.actor, number=revision.number),
                f"Revision {revision.number} restored as a new revision.",
            ):
                request.session.pop(DRAFT, None)
            return redirect("dashboard:rules")
        if op == "add":
            form = RuleForm(request.POST)
            if not form.is_valid():
                return self.render_to_response(self.get_context_data(form=form), status=400)
            draft.append(form.rule())
            try:
                clean_rules(draft)
            except RulesInvalid as exc:
                form.add_error(None, ValidationError(exc.messages))
                return self.render_to_response(self.get_context_data(form=form), status=400)
        else:
            self.edit(op, draft)
        base = self.draft_base(policy) if self.draft(policy) is not None else policy.revision
        request.session[DRAFT] = {"base": base, "rules": draft}
        return redirect("dashboard:rules")

    def edit(self, op: str, draft: list[dict]) -> None:
        ids = [rule["id"] for rule in draft]
        rule_id = self.request.POST.get("rule", "")
        if rule_id not in ids:
            messages.error(self.request, f"No rule '{rule_id[:64]}' in the draft.")
            return
        index = ids.index(rule_id)
        if op == "action" and self.request.POST.get("action") in ACTIONS:
            draft[index]["action"] = self.request.POST["action"]
        elif op == "up" and index > 0:
            draft[index - 1], draft[index] = draft[index], draft[index - 1]
        elif op == "down" and index < len(draft) - 1:
            draft[index + 1], draft[index] = draft[index], draft[index + 1]
        elif op == "delete":
            draft.pop(index)

    def simulate(self, draft: list[dict], policy: GovernancePolicy):
        window = self.request.POST.get("last", "1000")
        last = int(window) if window.isdigit() and int(window) in SIMULATION_WINDOWS else 1000
        mode = self.request.POST.get("mode", "")
        mode = mode if mode in GovernancePolicy.Mode.values else None
        result = None
        try:
            result = policy_simulate_change(actor=self.actor, mode=mode, rules=draft, last=last)
        except RulesInvalid as exc:
            messages.error(self.request, " ".join(exc.messages))
        context = self.get_context_data(simulation=result, window=last, simulated_mode=mode)
        return self.render_to_response(context)


class WaiversView(DashboardPage):
    template_name = "dashboard/waivers.html"
    nav_key = "waivers"
    required_action = "read"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        now = timezone.now()
        waivers = list(Waiver.objects.order_by("expires_at", "id")[:500])
        rank = {"active": 0, "expired": 1, "revoked": 2}
        rows = sorted(
            (
                {
                    "waiver": waiver,
                    "status": waiver.status_at(now),
                    "summary": match_summary(waiver.match),
                    "soon": waiver.status_at(now) == "active"
                    and waiver.expires_at - now <= EXPIRING_SOON,
                }
                for waiver in waivers
            ),
            key=lambda row: (rank[row["status"]], row["waiver"].expires_at),
        )
        context.update(
            rows=rows,
            form=kwargs.get("form") or WaiverForm(),
            can_grant=self.can("grant_waiver"),
            max_days=GovernancePolicy.load().max_waiver_days,
        )
        return context

    def post(self, request, *args, **kwargs):
        self.require("grant_waiver")
        if "revoke" in request.POST:
            waiver = get_object_or_404(Waiver, pk=request.POST["revoke"][:32])
            reason = request.POST.get("reason", "")[:5000]
            self.governed(
                lambda: waiver_revoke(waiver=waiver, actor=self.actor, reason=reason),
                f"Waiver {waiver.id} revoked.",
            )
            return redirect("dashboard:waivers")
        form = WaiverForm(request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        data = form.cleaned_data
        try:
            created = self.governed(
                lambda: waiver_create(
                    actor=self.actor,
                    match=form.match(),
                    justification=data["justification"],
                    expires_at=data["expires_at"],
                ),
                "Waiver granted.",
            )
        except ValidationError as exc:  # the service's field errors, on the form
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
            created = False
        if not created:
            return self.render_to_response(self.get_context_data(form=form), status=400)
        return redirect("dashboard:waivers")


class DecisionsView(DashboardPage):
    template_name = "dashboard/decisions.html"
    nav_key = "decisions"
    required_action = "read"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        params = self.request.GET
        decisions = AdmissionDecision.objects.order_by("-created_at", "-id")
        filters = {
            "project": params.get("project", "")[:32],
            "outcome": params.get("outcome", "") if params.get("outcome") in OUTCOMES else "",
            "rule": params.get("rule", "")[:64],
            "waiver": params.get("waiver", "")[:32],
            "since": params.get("since", "")[:40],
        }
        if filters["project"]:
            decisions = decisions.filter(project_id=filters["project"])
        if filters["outcome"]:
            decisions = decisions.filter(outcome=filters["outcome"])
        if filters["rule"]:
            decisions = decisions.filter(rule_ids__contains=[filters["rule"]])
        if filters["waiver"]:
            decisions = decisions.filter(conflicts__contains=[{"waiver_id": filters["waiver"]}])
        since = None
        if filters["since"]:
            try:
                since = parse_datetime(filters["since"])
            except ValueError:  # well-formed but impossible (month 13, offset +99:00)
                since = None
        if since is not None:
            # In UTC: PostgreSQL refuses offsets Python accepts (beyond ±15:59).
            since = timezone.make_aware(since, UTC) if timezone.is_naive(since) else since
            decisions = decisions.filter(created_at__gte=since.astimezone(UTC))
        page = Paginator(decisions, DECISIONS_PER_PAGE).get_page(params.get("page"))
        names = dict(
            Project.objects.filter(id__in={d.project_id for d in page}).values_list("id", "name")
        )
        for decision in page:
            decision.project_name = names.get(decision.project_id, decision.project_id)
        query = urlencode({key: value for key, value in filters.items() if value})
        context.update(
            page=page,
            filters=filters,
            text_filters=text_filters(filters, DECISION_TEXT_FILTERS),
            outcomes=OUTCOMES,
            projects=Project.objects.order_by("name").values_list("id", "name")[:500],
            query=query,
        )
        return context
