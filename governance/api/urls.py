from django.urls import re_path

from governance.api.views import BlockingReportView, ConflictViewSet, GovernancePolicyView
from metaqore_site.api.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("conflicts", ConflictViewSet, basename="conflict")

urlpatterns = [
    re_path(r"^policy/?$", GovernancePolicyView.as_view(), name="governance-policy"),
    re_path(r"^blocking-report/?$", BlockingReportView.as_view(), name="blocking-report"),
    *router.urls,
]
