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


class BlockedError(GovernanceBlocked):
    """409 on a declaration: PSMP stored the artifact blocked. ``conflicts`` and
    ``remediation`` say why and what to do; ``body`` is the whole governance answer.

    ``declare`` returns a blocked :class:`~metaqore_client.models.Declaration` by default;
    it raises this with ``raise_on_block=True`` (or ``declaration.raise_if_blocked()``).
    """

    def __init__(self, status: int, body: Any, message: str | None = None):
        governance = body.get("governance", {}) if isinstance(body, dict) else {}
        self.conflicts: list[dict[str, Any]] = list(governance.get("conflicts", []))
        self.remediation: list[dict[str, str]] = list(governance.get("remediation", []))
        hints = "; ".join(item.get("hint", "") for item in self.remediation if item.get("hint"))
        summary = f"Blocked by {len(self.conflicts)} conflict(s)" + (f": {hints}" if hints else "")
        super().__init__(status, body, message or summary)

    @property
    def artifact_id(self) -> str | None:
        return self.body.get("id") if isinstance(self.body, dict) else None


class Refused(MetaQoreError):
    """422: understood but refused by governance rules; ``reasons`` lists every rule that
    failed (e.g. a specialist proposal against the hierarchy policy)."""

    @property
    def reasons(self) -> list[dict[str, str]]:
        return list(self.body.get("reasons", [])) if isinstance(self.body, dict) else []


class RateLimited(MetaQoreError):
    """429 after the client's retries were used up."""


class ServiceUnavailable(MetaQoreError):
    """503 after the client's retries were used up (the server or its database is down)."""


BY_STATUS: dict[int, type[MetaQoreError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFound,
    409: GovernanceBlocked,
    422: Refused,
    429: RateLimited,
    503: ServiceUnavailable,
}


def error_for(status: int, body: Any) -> MetaQoreError:
    if status == 409 and isinstance(body, dict) and "governance" in body:
        return BlockedError(status, body)
    return BY_STATUS.get(status, MetaQoreError)(status, body)
