"""Shared behaviour of MetaQore's API views."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import filters, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.generics import get_object_or_404
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.actors import Actor, actor_from_request
from access.permissions import action_permission
from metaqore_site.api.serializers import render
from metaqore_site.compiled_query import compiles_by_pk, row_by_pk

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


# Filter backends that change nothing when the request has no query parameters.
_INERT_WITHOUT_PARAMETERS = (DjangoFilterBackend, filters.SearchFilter, filters.OrderingFilter)


class PublicIdLookupMixin(_GenericViewBase):
    """An id in the URL that no row can have is a 404 before it reaches PostgreSQL, which
    refuses NUL characters in a query (a 500 otherwise).

    A detail lookup without query parameters skips the filter backends that would filter
    nothing: django-filter builds a filterset and its form for every request, a fifth of an
    authenticated read's CPU (issue #24). Any other backend still applies. When what is left
    is every row of a model keyed by its public id, the look-up by that id is compiled once
    (``row_by_pk``): building and compiling the queryset was a quarter of a read's CPU."""

    max_lookup_length = 64

    def get_object(self):
        lookup_url_kwarg = self.lookup_url_kwarg or self.lookup_field
        value = str(self.kwargs.get(lookup_url_kwarg, ""))
        if "\x00" in value or len(value) > self.max_lookup_length:
            raise NotFound()
        queryset = self.get_queryset()
        for backend in self.filter_backends:
            if self.request.query_params or not issubclass(backend, _INERT_WITHOUT_PARAMETERS):
                queryset = backend().filter_queryset(self.request, queryset, self)
        if self.lookup_field in ("pk", queryset.model._meta.pk.name) and compiles_by_pk(queryset):
            obj = row_by_pk(queryset, value)
            if obj is None:
                raise NotFound()
        else:
            lookup = self.kwargs[lookup_url_kwarg]  # as the URL converter gave it
            obj = get_object_or_404(queryset, **{self.lookup_field: lookup})
        self.check_object_permissions(self.request, obj)
        return obj


class RenderedRetrieveMixin(_GenericViewBase):
    """``GET /…/{id}`` rendered by this thread's serializer of the class
    (``metaqore_site.api.serializers.render``): a new serializer would build and copy every
    field for the one object, a sixth of an authenticated read's CPU (issue #24)."""

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        instance = self.get_object()
        context = self.get_serializer_context()
        return Response(render(self.get_serializer_class(), instance, context))


class GovernedAPIView(ActorMixin, APIView):
    pass


class GovernedViewSet(
    ActorMixin, PublicIdLookupMixin, RenderedRetrieveMixin, viewsets.ModelViewSet
):
    """A model viewset whose writes go through services (subclasses override perform_*).
    Reads need the ``read`` right, writes ``write_work`` (governance/permissions.py)."""

    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    permission_classes = [action_permission(read="read", write="write_work")]


class GovernedReadOnlyViewSet(
    ActorMixin, PublicIdLookupMixin, RenderedRetrieveMixin, viewsets.ReadOnlyModelViewSet
):
    pass
