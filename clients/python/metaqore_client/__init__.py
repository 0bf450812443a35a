"""Python client for MetaQore's REST API (sync and async, on httpx)."""

from metaqore_client.client import AsyncMetaQore, MetaQore, __version__
from metaqore_client.errors import (
    AuthenticationError,
    BlockedError,
    GovernanceBlocked,
    MetaQoreError,
    NotFound,
    PermissionDenied,
    RateLimited,
    Refused,
    ServiceUnavailable,
    ValidationError,
)
from metaqore_client.models import (
    Artifact,
    Conflict,
    Declaration,
    Event,
    Page,
    Project,
    RoutingDecision,
    Task,
)

__all__ = [
    "Artifact",
    "AsyncMetaQore",
    "AuthenticationError",
    "BlockedError",
    "Conflict",
    "Declaration",
    "Event",
    "GovernanceBlocked",
    "MetaQore",
    "MetaQoreError",
    "NotFound",
    "Page",
    "PermissionDenied",
    "Project",
    "RateLimited",
    "Refused",
    "RoutingDecision",
    "ServiceUnavailable",
    "Task",
    "ValidationError",
    "__version__",
]
