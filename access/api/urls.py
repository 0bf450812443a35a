"""``/api/v1/auth/token/`` (+ ``/refresh/``) and ``/api/v1/governance/agent-keys/``."""

from django.urls import re_path

from access.api.auth_views import OrgTokenObtainPairView, OrgTokenRefreshView
from access.api.keys import AgentKeyViewSet
from metaqore_site.api.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("governance/agent-keys", AgentKeyViewSet, basename="agent-key")

urlpatterns = [
    re_path(r"^auth/token/?$", OrgTokenObtainPairView.as_view(), name="token_obtain_pair"),
    re_path(r"^auth/token/refresh/?$", OrgTokenRefreshView.as_view(), name="token_refresh"),
    *router.urls,
]
