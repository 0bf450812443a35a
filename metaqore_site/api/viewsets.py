"""Shared behaviour of MetaQore's API views."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rest_framework import viewsets
from rest_framework.exceptions import NotFound
from rest_framework.views import APIView

from access.actors import Actor, actor_from_request
from access.permissions import action_permission

if TYPE_CHECKING:  # what the mixins extend, for the type checker (plain mixins at run time)
    from rest_framework.generics import GenericAPIView

    _ViewBase = APIView
    _GenericViewBase = GenericAPIView[Any]
else:
    _ViewBase = _GenericViewBase = object


class ActorMixin(_ViewBase):
    """Resolves the acting agent/user once, right after authentication."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.user is not None and request.user.is_authenticated:
            actor_from_request(request)

    @property
    def actor(self) -> Actor:
        return actor_from_request(self.request)


class PublicIdLookupMixin(_GenericViewBase):
    """An id in the URL that no row can have is a 404 before it reaches PostgreSQL, which
    refuses NUL characters in a query (a 500 otherwise)."""

    max_lookup_length = 64

    def get_object(self):
        value = str(self.kwargs.get(self.lookup_url_kwarg or self.lookup_field, ""))
        if "\x00" in value or len(value) > self.max_lookup_length:
            raise NotFound()
        return super().get_object()


class GovernedAPIView(ActorMixin, APIView):
    pass


class GovernedViewSet(ActorMixin, PublicIdLookupMixin, viewsets.ModelViewSet):
    """A model viewset whose writes go through services (subclasses override perform_*).
    Reads need the ``read`` right, writes ``write_work`` (governance/permissions.py)."""

    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    permission_classes = [action_permission(read="read", write="write_work")]


class GovernedReadOnlyViewSet(ActorMixin, PublicIdLookupMixin, viewsets.ReadOnlyModelViewSet):
    pass
