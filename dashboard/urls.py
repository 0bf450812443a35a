from django.contrib.auth import views as auth_views
from django.urls import path

from dashboard.views.admin_pages import AgentKeysView, PolicyView, UsersView
from dashboard.views.audit import AuditTrailView, AuditVerifyView
from dashboard.views.conflicts import ConflictDetailView, ConflictQueueView
from dashboard.views.erasures import ErasuresView
from dashboard.views.jobs import JobsView
from dashboard.views.lockouts import LockoutsView
from dashboard.views.overview import OverviewView
from dashboard.views.projects import ProjectDetailView, ProjectListView
from dashboard.views.providers import ProviderDetailView, ProvidersView
from dashboard.views.rules import DecisionsView, RulesView, WaiversView
from dashboard.views.specialists import (
    HierarchyPolicyView,
    SkillDetailView,
    SpecialistDetailView,
    SpecialistsView,
)
from dashboard.views.webhooks import WebhookDetailView, WebhooksView

app_name = "dashboard"

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="dashboard/login.html"),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(next_page="dashboard:login"), name="logout"),
    path("", OverviewView.as_view(), name="overview"),
    path("conflicts/", ConflictQueueView.as_view(), name="conflicts"),
    path("conflicts/<str:conflict_id>/", ConflictDetailView.as_view(), name="conflict"),
    path("projects/", ProjectListView.as_view(), name="projects"),
    path("projects/<str:project_id>/", ProjectDetailView.as_view(), name="project"),
    path("audit/", AuditTrailView.as_view(), name="audit"),
    path("audit/verify/", AuditVerifyView.as_view(), name="audit-verify"),
    path("erasures/", ErasuresView.as_view(), name="erasures"),
    path("policy/", PolicyView.as_view(), name="policy"),
    path("rules/", RulesView.as_view(), name="rules"),
    path("waivers/", WaiversView.as_view(), name="waivers"),
    path("decisions/", DecisionsView.as_view(), name="decisions"),
    path("keys/", AgentKeysView.as_view(), name="keys"),
    path("users/", UsersView.as_view(), name="users"),
    path("users/lockouts/", LockoutsView.as_view(), name="lockouts"),
    path("providers/", ProvidersView.as_view(), name="providers"),
    path("providers/<str:name>/", ProviderDetailView.as_view(), name="provider"),
    path("webhooks/", WebhooksView.as_view(), name="webhooks"),
    path("webhooks/<str:webhook_id>/", WebhookDetailView.as_view(), name="webhook"),
    path("jobs/", JobsView.as_view(), name="jobs"),
    path("specialists/", SpecialistsView.as_view(), name="specialists"),
    path("specialists/policy/", HierarchyPolicyView.as_view(), name="hierarchy-policy"),
    path("specialists/skills/<str:skill_id>/", SkillDetailView.as_view(), name="skill"),
    path("specialists/<str:specialist_id>/", SpecialistDetailView.as_view(), name="specialist"),
]
