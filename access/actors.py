"""Who is acting: an agent (API key), a user (JWT or session) or the system (shell, migrations).

Every service takes an explicit ``actor``; the audit trail records ``str(actor)``.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from django.conf import settings

PRIVILEGED_HEADER = "X-MetaQore-Privileged"


@dataclass(frozen=True)
class Actor:
    kind: str  # "agent" | "user" | "system"
    name: str
    is_privileged: bool = False
    roles: frozenset[str] = field(default_factory=frozenset)

    def __str__(self) -> str:
        return "system" if self.kind == "system" else f"{self.kind}:{self.name}"

    @property
    def is_agent(self) -> bool:
        return self.kind == "agent"

    @property
    def is_user(self) -> bool:
        return self.kind == "user"

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))


SYSTEM = Actor(kind="system", name="system")


def cli_actor(name: str = "cli") -> Actor:
    """The actor for management commands: the operator, not an org user."""
    return Actor(kind="system", name=name)


class AgentPrincipal:
    """What ``request.user`` is for a request authenticated by an agent API key."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    def __init__(self, key):
        self.key = key
        self.agent_name = key.agent.name
        self.username = f"agent:{self.agent_name}"
        self.pk = None

    def __str__(self) -> str:
        return self.username


def privileged_header_valid(value: str | None) -> bool:
    """The shared-secret header grants privilege, to agent keys only, when the server has a
    token configured. Values such as ``true`` or ``1`` grant nothing."""
    token = settings.METAQORE_PRIVILEGED_TOKEN
    if not token or not value:
        return False
    return hmac.compare_digest(value.encode(), token.encode())


def actor_for_user(user) -> Actor:
    """The actor of a Django user of the current org (admin, dashboard, JWT, session).

    Users are never privileged: the privileged header elevates agent keys only (a viewer's
    JWT plus the token must not become an orchestrator)."""
    roles = frozenset(user.groups.values_list("name", flat=True))
    if user.is_superuser:  # the org's Django superuser administers the org
        roles |= {"org_admin"}
    return Actor(kind="user", name=user.get_username(), roles=roles)


def actor_from_request(request) -> Actor:
    """The actor of an authenticated request (cached on the request)."""
    cached = getattr(request, "_metaqore_actor", None)
    if cached is not None:
        return cached
    user = getattr(request, "user", None)
    if isinstance(user, AgentPrincipal):
        header_privileged = privileged_header_valid(request.headers.get(PRIVILEGED_HEADER))
        actor = Actor(
            kind="agent",
            name=user.agent_name,
            is_privileged=user.key.is_privileged or header_privileged,
        )
    elif user is not None and user.is_authenticated:
        actor = actor_for_user(user)  # the privileged header is ignored for users
    else:
        actor = Actor(kind="anonymous", name="anonymous")
    request._metaqore_actor = actor
    # Also on the underlying HttpRequest, where middleware (response headers) can see it.
    getattr(request, "_request", request).metaqore_actor = actor
    return actor
