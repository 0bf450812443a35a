"""DRF authentication: agent API keys first, then org-bound JWTs (then sessions, in settings)."""

from __future__ import annotations

import hashlib
import logging

from django.db import DatabaseError
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework_simplejwt.authentication import JWTAuthentication

from access.actors import AgentPrincipal
from access.auth_failures import auth_failed_record
from access.keys import PREFIX_LENGTH, agent_key_authenticate
from metaqore_site.database import tenant_connection

API_KEY_HEADER = "X-API-Key"
KEY_PREFIX = "mq_"

logger = logging.getLogger(__name__)


def record_auth_failure(request, *, credential: str, key_prefix: str, reason: str) -> None:
    """Write a (rate-limited) ``auth.failed`` event. It commits on its own: authentication runs
    before any write transaction, and the request then ends in 401."""
    key_prefix = "".join(ch for ch in key_prefix if ch.isprintable())
    try:
        auth_failed_record(
            source_ip=request.META.get("REMOTE_ADDR", ""),
            credential=credential,
            key_prefix=key_prefix,
            reason=reason,
            path=request.path[:200],
        )
    except DatabaseError:  # the 401 matters more than its audit row; say so in the logs
        logger.exception("Could not record auth.failed for %s", key_prefix)


def raw_api_key(request) -> str | None:
    """The agent key sent as ``X-API-Key`` or ``Authorization: Bearer mq_…``, if any."""
    header_key = request.headers.get(API_KEY_HEADER)
    if header_key:
        return header_key.strip()
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value.startswith(KEY_PREFIX):
        return value
    return None


class AgentKeyAuthentication(BaseAuthentication):
    def authenticate(self, request):
        raw = raw_api_key(request)
        if raw is None:
            return None
        # The rate-limit middleware has usually looked the key up already.
        key = getattr(request._request, "metaqore_agent_key", None) or agent_key_authenticate(raw)
        if key is None:
            reason = "Invalid, expired or revoked API key."
            record_auth_failure(
                request, credential="api_key", key_prefix=raw[:PREFIX_LENGTH], reason=reason
            )
            raise exceptions.AuthenticationFailed(reason)
        return AgentPrincipal(key), key

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class OrgJWTAuthentication(JWTAuthentication):
    """A JWT is valid only on the host of the organization that issued it.

    User ids are per-schema, so without the ``org`` claim a token from org A could name a
    different user with the same id in org B.
    """

    def authenticate(self, request):
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed as exc:
            raw_token = self.get_raw_token(self.get_header(request) or b"") or b""
            # A JWT's first characters are its (shared) header: fingerprint the whole token.
            fingerprint = "jwt:" + hashlib.sha256(raw_token).hexdigest()[:12]
            reason = str(
                exc.detail.get("detail", exc.detail) if isinstance(exc.detail, dict) else exc.detail
            )
            record_auth_failure(request, credential="jwt", key_prefix=fingerprint, reason=reason)
            raise

    def get_validated_token(self, raw_token):
        token = super().get_validated_token(raw_token)
        if token.get("org") != tenant_connection.schema_name:
            raise exceptions.AuthenticationFailed("Token was issued for another organization.")
        return token
