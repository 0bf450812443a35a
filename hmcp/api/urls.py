"""``/api/v1/specialists/…`` (included at the API root, so the list answers without a slash)."""

from django.urls import re_path

from hmcp.api.views import (
    DiscoveryView,
    EvaluateView,
    HierarchyPolicyView,
    SkillViewSet,
    SpecialistViewSet,
    TrainingJobViewSet,
)
from metaqore_site.api.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("specialists/skills", SkillViewSet, basename="skill")
router.register("specialists/training-jobs", TrainingJobViewSet, basename="training-job")
router.register("specialists", SpecialistViewSet, basename="specialist")

urlpatterns = [
    re_path(r"^specialists/evaluate/?$", EvaluateView.as_view(), name="specialist-evaluate"),
    re_path(r"^specialists/discoveries/?$", DiscoveryView.as_view(), name="specialist-discoveries"),
    re_path(r"^specialists/policy/?$", HierarchyPolicyView.as_view(), name="hierarchy-policy"),
    *router.urls,
]
