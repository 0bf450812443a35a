"""The domain errors every app raises: one place, no HTTP framework in sight.

Services raise them; ``metaqore_site.api.exceptions`` turns each into its JSON body and status
(``status_code``), the dashboard into a message, commands into ``CommandError``.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any


class GovernanceError(Exception):
    """Base class for errors raised by services; each maps to one HTTP status."""

    status_code: int = HTTPStatus.CONFLICT
    default_code = "governance_error"

    def __init__(self, detail: str, *, code: str | None = None, extra: dict | None = None):
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.default_code
        self.extra = extra or {}

    def as_payload(self) -> dict[str, Any]:
        return {"detail": self.detail, "code": self.code, **self.extra}


class GovernanceBlocked(GovernanceError):
    """The change is valid but governance refuses it now (conflicts, lifecycle): 409."""

    status_code = HTTPStatus.CONFLICT
    default_code = "governance_blocked"


class GovernanceForbidden(GovernanceError):
    """The actor's role or key may not do this: 403."""

    status_code = HTTPStatus.FORBIDDEN
    default_code = "forbidden"


class GovernanceRefused(GovernanceError):
    """A request understood but refused by governance rules (e.g. a specialist proposal that
    breaks the hierarchy policy): 422 with every reason."""

    status_code = HTTPStatus.UNPROCESSABLE_ENTITY
    default_code = "refused"


class GovernanceBypassError(GovernanceBlocked):
    """A write that would skip governance (bulk ORM calls, hand-edited managed fields)."""

    default_code = "governance_bypass"


class IllegalTransition(GovernanceBlocked):
    """A lifecycle move the state machine (PSMP, specialists, training jobs) does not allow."""

    default_code = "illegal_transition"


class LeaseExpired(GovernanceBlocked):
    """A trainer reported on a training job whose lease it no longer holds."""

    default_code = "lease_expired"
