"""Shared behaviour of MetaQore's API viewsets."""

from __future__ import annotations

from rest_framework import viewsets

from governance.actors import Actor, actor_from_request


class GovernedViewSet(viewsets.ModelViewSet):
    """A model viewset whose writes go through services (subclasses override perform_*)."""

    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    @property
    def actor(self) -> Actor:
        return actor_from_request(self.request)
