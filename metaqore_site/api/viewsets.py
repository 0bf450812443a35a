"""Shared behaviour of MetaQore's API views."""

from __future__ import annotations

from rest_framework import viewsets
from rest_framework.views import APIView

from governance.actors import Actor, actor_from_request


class ActorMixin:
    """Resolves the acting agent/user once, right after authentication."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.user is not None and request.user.is_authenticated:
            actor_from_request(request)

    @property
    def actor(self) -> Actor:
        return actor_from_request(self.request)


class GovernedAPIView(ActorMixin, APIView):
    pass


class GovernedViewSet(ActorMixin, viewsets.ModelViewSet):
    """A model viewset whose writes go through services (subclasses override perform_*)."""

    http_method_names = ["get", "post", "patch", "delete", "head", "options"]


class GovernedReadOnlyViewSet(ActorMixin, viewsets.ReadOnlyModelViewSet):
    pass
