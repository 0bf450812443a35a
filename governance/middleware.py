"""The governance headers of every response of an organization's host."""

from __future__ import annotations

from collections.abc import Callable

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django_tenants.utils import get_public_schema_name

from access.actors import PRIVILEGED_HEADER
from governance.models import GovernancePolicy
from metaqore_site.database import tenant_connection

MODE_HEADER = "X-MetaQore-Governance-Mode"
PRIVILEGED_RESPONSE_HEADER = "X-MetaQore-Privileged"


class GovernanceHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if tenant_connection.schema_name == get_public_schema_name():
            return response
        mode = getattr(request, "governance_mode", None)
        if mode is None:
            try:
                mode = GovernancePolicy.objects.values_list("mode", flat=True).first()
            except DatabaseError:
                mode = None
            mode = mode or GovernancePolicy.Mode.STRICT.value
        response[MODE_HEADER] = mode
        actor = getattr(request, "metaqore_actor", None)
        if actor is not None and actor.is_privileged:
            response[PRIVILEGED_RESPONSE_HEADER] = "true"
        elif PRIVILEGED_HEADER in request.headers:
            # Sent but not honoured: a user's JWT or session (only agent keys can be
            # privileged), or a wrong token. Say so rather than fail silently.
            response[PRIVILEGED_RESPONSE_HEADER] = "ignored"
        return response
