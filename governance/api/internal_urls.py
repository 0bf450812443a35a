from django.urls import re_path

from governance.api.internal import InternalAutoResolveView, InternalStatsView

urlpatterns = [
    re_path(
        r"^conflicts/auto-resolve/?$",
        InternalAutoResolveView.as_view(),
        name="internal-autoresolve",
    ),
    re_path(r"^stats/?$", InternalStatsView.as_view(), name="internal-stats"),
]
