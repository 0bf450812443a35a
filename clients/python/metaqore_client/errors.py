"""Errors raised by the client; each carries the HTTP status and the JSON body."""

from __future__ import annotations

from typing import Any


class MetaQoreError(Exception):
    def __init__(self, status: int, body: Any, message: str | None = None):
        self.status = status
        self.body = body
        detail = body.get("detail") if isinstance(body, dict) else None
        super().__init__(message or detail or f"HTTP {status}: {body!r}")


class ValidationError(MetaQoreError):
    """400: the request was malformed; ``body`` has the field errors."""


class AuthenticationError(MetaQoreError):
    """401: no valid credential for this organization."""


class PermissionDenied(MetaQoreError):
    """403: the key or role may not do this."""


class NotFound(MetaQoreError):
    """404: unknown id (or another organization's)."""


class GovernanceBlocked(MetaQoreError):
    """409: governance refused the change (illegal transition, already resolved, …)."""


class RateLimited(MetaQoreError):
    """429 after the client's retries were used up."""


BY_STATUS: dict[int, type[MetaQoreError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFound,
    409: GovernanceBlocked,
    429: RateLimited,
}


def error_for(status: int, body: Any) -> MetaQoreError:
    return BY_STATUS.get(status, MetaQoreError)(status, body)
