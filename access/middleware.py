"""Rate limits for every request, counted against the caller's credential or address."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django_tenants.utils import get_public_schema_name
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from access import ratelimits
from access.actors import PRIVILEGED_HEADER, privileged_header_valid
from access.authentication import raw_api_key
from access.keys import agent_key_authenticate
from access.ratelimit_counters import CHECK, COUNT, NONE
from metaqore_site.database import tenant_connection
from metaqore_site.middleware import request_attributes
from metaqore_site.outage import database_unavailable_response

logger = logging.getLogger(__name__)


class RateLimitMiddleware:
    """Counts every request against its credential (API key, user) or client IP and answers
    429 with ``Retry-After`` over the limit; every response carries X-RateLimit-* headers.
    See access.ratelimits for the exact semantics."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            usage, refused = self._check(request)
        except DatabaseError:
            # Looking the API key up failed: the database, not the cache, is down. Nothing
            # can be served without it, and "unlimited" would be the wrong thing to log.
            logger.warning("Database unavailable while rate limiting", exc_info=True)
            return database_unavailable_response(request)
        except Exception:  # the cache (Redis) is down: stay available, say so in the logs
            logger.exception("Rate limiting skipped: the cache is unavailable")
            usage, refused = None, None
        response = refused or self.get_response(request)
        if usage is not None:
            response["X-RateLimit-Limit"] = str(usage.limit)
            response["X-RateLimit-Remaining"] = str(usage.remaining)
            if usage.limited:
                response["Retry-After"] = str(usage.retry_after)
        return response

    def _check(self, request: HttpRequest):
        identity, privileged, keyfail = self._identity(request)
        # One round trip to the counters (access.ratelimit_counters).
        usage, refusal = ratelimits.request_check(request, identity, privileged, keyfail=keyfail)
        if usage is not None and refusal is not None:
            return usage, _too_many(usage, refusal)
        return usage, None

    @staticmethod
    def _identity(request: HttpRequest) -> tuple[str, bool, int]:
        """(counter identity, privileged, what the credential means for the address's
        invalid-credential counter: NONE, CHECK a valid key, COUNT an invalid credential).

        The identity is a credential of this organization, after it authenticated; anything
        else (no credential, a bad key or token, another org's credential) is the client IP.
        A valid key from an address over the invalid-credential limit is refused too (CHECK):
        a key guessed right among many wrong ones does not get in."""
        schema = tenant_connection.schema_name
        ip = f"ip:{ratelimits.client_ip(request)}"
        if schema == get_public_schema_name():
            return ip, False, NONE
        raw = raw_api_key(request)
        if raw is not None:
            key = agent_key_authenticate(raw)
            if key is None:
                return ip, False, COUNT
            request_attributes(request).metaqore_agent_key = key  # AgentKeyAuthentication reuses it
            # The privileged header elevates agent keys only; users are never privileged.
            header_privileged = privileged_header_valid(request.headers.get(PRIVILEGED_HEADER))
            return f"{schema}:key:{key.pk}", key.is_privileged or header_privileged, CHECK
        token = _bearer_token(request)
        if token is not None:
            try:
                # simplejwt annotates its argument, the encoded JWT (a str), as a Token.
                claims = AccessToken(token)  # type: ignore[arg-type]
            except TokenError:
                return ip, False, COUNT  # authentication answers 401
            if claims.get("org") != schema:
                # Validly signed, but for another organization: user ids are per schema, so
                # beta's user 4 must not spend alpha's user 4's budget. It counts against the
                # caller's address, as the invalid credential it is here (401).
                return ip, False, COUNT
            return f"{schema}:user:{claims.get('user_id')}", False, NONE
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return f"{schema}:user:{user.pk}", False, NONE
        return ip, False, NONE


def _bearer_token(request: HttpRequest) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def _too_many(usage, detail: str) -> HttpResponse:
    return JsonResponse({"detail": detail, "retry_after": usage.retry_after}, status=429)
