"""DRF authentication: agent API keys first, then org-bound JWTs (then sessions, in settings)."""

from __future__ import annotations

from django.db import connection
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework_simplejwt.authentication import JWTAuthentication

from governance.actors import AgentPrincipal
from governance.keys import agent_key_authenticate

API_KEY_HEADER = "X-API-Key"
KEY_PREFIX = "mq_"


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
        key = agent_key_authenticate(raw)
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked API key.")
        return AgentPrincipal(key), key

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class OrgJWTAuthentication(JWTAuthentication):
    """A JWT is valid only on the host of the organization that issued it.

    User ids are per-schema, so without the ``org`` claim a token from org A could name a
    different user with the same id in org B.
    """

    def get_validated_token(self, raw_token):
        token = super().get_validated_token(raw_token)
        if token.get("org") != connection.schema_name:
            raise exceptions.AuthenticationFailed("Token was issued for another organization.")
        return token
