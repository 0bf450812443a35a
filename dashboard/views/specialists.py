"""Specialists (HMCP): the skill registry, the hierarchy policy, specialists with their
lifecycle history, training jobs and their leases. Every role reads; org admins edit skills
and the policy (``manage_skills``, ``change_policy``); officers and org admins deprecate or
block specialists (``write_work``). Writes go through hmcp.registry and hmcp.services."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone

from dashboard.forms import HierarchyPolicyForm, SkillEditForm, SkillForm, SpecialistMoveForm
from dashboard.views.base import DashboardPage
from hmcp.models import DiscoveryRun, HierarchyPolicy, Skill, Specialist, TrainingJob
from hmcp.registry import hierarchy_policy_update, skill_create, skill_delete, skill_update
from hmcp.services import specialist_transition

JOBS_SHOWN = 100


class SpecialistsView(DashboardPage):
    template_name = "dashboard/specialists.html"
    nav_key = "specialists"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        specialists = Specialist.objects.select_related("skill", "project").order_by(
            "-created_at", "-id"
        )
        lifecycle = self.request.GET.get("lifecycle", "")
        if lifecycle in Specialist.Lifecycle.values:
            specialists = specialists.filter(lifecycle=lifecycle)
        jobs = TrainingJob.objects.select_related("specialist", "specialist__skill").order_by(
            "-created_at", "-id"
        )[:JOBS_SHOWN]
        context.update(
            skills=Skill.objects.order_by("skill_id"),
            policy=HierarchyPolicy.load(),
            page=Paginator(specialists, 50).get_page(self.request.GET.get("page")),
            lifecycle=lifecycle,
            lifecycles=Specialist.Lifecycle.values,
            jobs=jobs,
            discovery=DiscoveryRun.objects.first(),  # the latest scheduled discovery
            now=timezone.now(),
            can_manage_skills=self.can("manage_skills"),
            can_change_policy=self.can("change_policy"),
            form=kwargs.get("form") or SkillForm(),
        )
        return context

    def post(self, request, *args, **kwargs):
        """A new skill (org admins)."""
        self.require("manage_skills")
        form = SkillForm(request.POST)
        if form.is_valid() and self.governed_form(
            form,
            lambda: skill_create(actor=self.actor, **form.cleaned_data),
            f"Skill {form.cleaned_data['skill_id']} registered.",
        ):
            return redirect("dashboard:specialists")
        return self.render_to_response(self.get_context_data(form=form), status=400)


class SkillDetailView(DashboardPage):
    template_name = "dashboard/skill_detail.html"
    nav_key = "specialists"

    def get_skill(self) -> Skill:
        return get_object_or_404(Skill, skill_id=self.kwargs["skill_id"][:64])

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        skill = self.get_skill()
        context.update(
            skill=skill,
            specialists=skill.specialists.select_related("project").order_by("-created_at")[:100],
            can_manage_skills=self.can("manage_skills"),
            form=kwargs.get("form") or SkillEditForm(instance=skill),
        )
        return context

    def post(self, request, *args, **kwargs):
        self.require("manage_skills")
        skill = self.get_skill()
        if "delete" in request.POST:
            deleted = self.governed(
                lambda: skill_delete(skill=skill, actor=self.actor),
                f"Skill {skill.skill_id} deleted.",
            )
            if deleted:
                return redirect("dashboard:specialists")
            return redirect("dashboard:skill", skill_id=skill.skill_id)
        form = SkillEditForm(request.POST, instance=Skill.objects.get(pk=skill.pk))
        if form.is_valid():
            changes = {name: form.cleaned_data[name] for name in form.changed_data}
            if self.governed_form(
                form,
                lambda: skill_update(skill=skill, actor=self.actor, changes=changes),
                f"Skill {skill.skill_id} saved.",
            ):
                return redirect("dashboard:skill", skill_id=skill.skill_id)
        return self.render_to_response(self.get_context_data(form=form), status=400)


class HierarchyPolicyView(DashboardPage):
    template_name = "dashboard/hierarchy_policy.html"
    nav_key = "specialists"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        policy = HierarchyPolicy.load()
        context.update(
            policy=policy,
            can_change_policy=self.can("change_policy"),
            form=kwargs.get("form") or HierarchyPolicyForm(instance=policy),
        )
        return context

    def post(self, request, *args, **kwargs):
        self.require("change_policy")
        form = HierarchyPolicyForm(request.POST, instance=HierarchyPolicy.load())
        if form.is_valid():
            changes = {name: form.cleaned_data[name] for name in form.changed_data}
            if self.governed_form(
                form,
                lambda: hierarchy_policy_update(actor=self.actor, changes=changes),
                "Hierarchy policy saved.",
            ):
                return redirect("dashboard:hierarchy-policy")
        return self.render_to_response(self.get_context_data(form=form), status=400)


class SpecialistDetailView(DashboardPage):
    template_name = "dashboard/specialist_detail.html"
    nav_key = "specialists"

    def get_specialist(self) -> Specialist:
        return get_object_or_404(
            Specialist.objects.select_related("skill", "project", "parent"),
            pk=self.kwargs["specialist_id"][:32],
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        specialist = self.get_specialist()
        context.update(
            specialist=specialist,
            history=list(reversed(specialist.lifecycle_history)),
            jobs=specialist.training_jobs.order_by("-created_at")[:50],
            now=timezone.now(),
            can_move=self.can("write_work") and specialist.lifecycle not in Specialist.TERMINAL,
            form=kwargs.get("form") or SpecialistMoveForm(),
        )
        return context

    def post(self, request, *args, **kwargs):
        self.require("write_work")
        specialist = self.get_specialist()
        form = SpecialistMoveForm(request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        target = form.cleaned_data["to"]
        self.governed(
            lambda: specialist_transition(
                specialist=specialist,
                actor=self.actor,
                to=target,
                reason=form.cleaned_data["reason"],
            ),
            f"{specialist.id} is now {target}.",
        )
        return redirect("dashboard:specialist", specialist_id=specialist.id)
