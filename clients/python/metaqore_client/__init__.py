"""Python client for MetaQore's REST API (sync and async, on httpx)."""

from metaqore_client.client import AsyncMetaQore, MetaQore
from metaqore_client.errors import (
    AuthenticationError,
    GovernanceBlocked,
    MetaQoreError,
    NotFound,
    PermissionDenied,
    RateLimited,
    ValidationError,
)
from metaqore_client.models import Conflict, Declaration, Event, RoutingDecision

__all__ = [
    "AsyncMetaQore",
    "AuthenticationError",
    "Conflict",
    "Declaration",
    "Event",
    "GovernanceBlocked",
    "MetaQore",
    "MetaQoreError",
    "NotFound",
    "PermissionDenied",
    "RateLimited",
    "RoutingDecision",
    "ValidationError",
]
