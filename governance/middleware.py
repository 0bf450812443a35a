"""The governance headers of every response of an organization's host."""

from __future__ import annotations

from collections.abc import Callable

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django_tenants.utils import get_public_schema_name

from access.actors import PRIVILEGED_HEADER
from governance.models import GovernancePolicy
from metaqore_site.database import tenant_connection
from metaqore_site.resolution_cache import ResolutionCache

MODE_HEADER = "X-MetaQore-Governance-Mode"
PRIVILEGED_RESPONSE_HEADER = "X-MetaQore-Privileged"

# The mode of each org's policy, per process (invalidated by NOTIFY from governance.models'
# trigger). Only the header reads it: declarations read the policy in their own transaction.
_modes: ResolutionCache[str | None] = ResolutionCache("governance modes")


def _mode_read() -> str | None:
    return GovernancePolicy.objects.values_list("mode", flat=True).first()


def governance_mode() -> str:
    """The current org's governance mode (``strict`` when its policy cannot be read)."""
    schema = tenant_connection.schema_name
    try:
        mode = _modes.get(f"policy:{schema}", schema, _mode_read)
    except DatabaseError:
        mode = None
    return mode or GovernancePolicy.Mode.STRICT.value


class GovernanceHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if tenant_connection.schema_name == get_public_schema_name():
            return response
        response[MODE_HEADER] = getattr(request, "governance_mode", None) or governance_mode()
        actor = getattr(request, "metaqore_actor", None)
        if actor is not None and actor.is_privileged:
            response[PRIVILEGED_RESPONSE_HEADER] = "true"
        elif PRIVILEGED_HEADER in request.headers:
            # Sent but not honoured: a user's JWT or session (only agent keys can be
            # privileged), or a wrong token. Say so rather than fail silently.
            response[PRIVILEGED_RESPONSE_HEADER] = "ignored"
        return response
