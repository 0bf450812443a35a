from django.urls import re_path

from governance.api.policy_rules import (
    DecisionViewSet,
    PolicyRevisionViewSet,
    PolicySimulateView,
    RulesReportView,
    WaiverViewSet,
)
from governance.api.provider_routing import ProviderViewSet, RoutingClassifyView, RoutingEnforceView
from governance.api.views import BlockingReportView, ConflictViewSet, GovernancePolicyView
from metaqore_site.api.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("conflicts", ConflictViewSet, basename="conflict")
router.register("providers", ProviderViewSet, basename="provider")
router.register("waivers", WaiverViewSet, basename="waiver")
router.register("decisions", DecisionViewSet, basename="decision")
router.register("policy/revisions", PolicyRevisionViewSet, basename="policy-revision")

urlpatterns = [
    re_path(r"^policy/?$", GovernancePolicyView.as_view(), name="governance-policy"),
    re_path(r"^policy/simulate/?$", PolicySimulateView.as_view(), name="policy-simulate"),
    re_path(r"^policy/rules/report/?$", RulesReportView.as_view(), name="policy-rules-report"),
    re_path(r"^blocking-report/?$", BlockingReportView.as_view(), name="blocking-report"),
    re_path(r"^routing/classify/?$", RoutingClassifyView.as_view(), name="routing-classify"),
    re_path(r"^routing/enforce/?$", RoutingEnforceView.as_view(), name="routing-enforce"),
    *router.urls,
]
