"""JWT pair endpoints for an org's users; tokens carry the org they were issued for."""

from __future__ import annotations

from typing import cast

from django.contrib.auth import get_user_model
from django.db import models
from django.utils.cache import add_never_cache_headers
from drf_spectacular.utils import extend_schema, extend_schema_view, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer, TokenRefreshSerializer
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from access.actors import actor_for_user
from access.ratelimits import client_ip
from access.users import user_audit
from metaqore_site.api.openapi import error_response
from metaqore_site.api.serializers import StrictCharField
from metaqore_site.database import tenant_connection

MAX_PASSWORD_LENGTH = 4096
MAX_TOKEN_LENGTH = 4096  # a MetaQore JWT is ~300 characters


class OrgTokenObtainPairSerializer(TokenObtainPairSerializer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # simplejwt's fields take any length and any character, which the user lookup would
        # send to PostgreSQL: bound them like the model does.
        username = cast(models.CharField, get_user_model()._meta.get_field(self.username_field))
        assert username.max_length is not None  # the user model bounds it (150)
        self.fields[self.username_field] = StrictCharField(
            write_only=True, max_length=username.max_length
        )
        self.fields["password"] = StrictCharField(
            write_only=True,
            max_length=MAX_PASSWORD_LENGTH,
            trim_whitespace=False,
            style={"input_type": "password"},
        )

    def validate(self, attrs):
        try:
            data = super().validate(attrs)
        except AuthenticationFailed:
            # access.lockout: a locked account is refused even with the right password.
            seconds = getattr(self.context.get("request"), "metaqore_lockout_seconds", 0)
            if seconds:
                raise Throttled(
                    wait=seconds,
                    detail="Account temporarily locked after repeated failed logins.",
                ) from None
            raise
        # A wrong password never gets here (auth.login_failed, from Django's signal).
        assert self.user is not None  # validate() raised otherwise
        user_audit(
            "auth.token_issued",
            self.user,
            actor=actor_for_user(self.user),
            payload={"kind": "jwt", "source_ip": client_ip(self.context["request"])},
        )
        return data

    @classmethod
    def get_token(cls, user):
        token = super().get_token(user)
        token["org"] = tenant_connection.schema_name
        return token


class OrgTokenRefreshSerializer(TokenRefreshSerializer):
    refresh = StrictCharField(max_length=MAX_TOKEN_LENGTH)

    def validate(self, attrs):
        refresh = RefreshToken(attrs["refresh"])
        if refresh.get("org") != tenant_connection.schema_name:
            raise InvalidToken("Token was issued for another organization.")
        return super().validate(attrs)


BAD_CREDENTIALS = error_response("Wrong username or password, or an inactive user.")
TokenPair = inline_serializer(
    "TokenPair", {"access": serializers.CharField(), "refresh": serializers.CharField()}
)
AccessToken = inline_serializer("AccessToken", {"access": serializers.CharField()})


@extend_schema_view(post=extend_schema(responses={200: TokenPair, 401: BAD_CREDENTIALS}))
class OrgTokenObtainPairView(TokenObtainPairView):
    serializer_class = OrgTokenObtainPairSerializer

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        add_never_cache_headers(response)  # tokens are credentials (RFC 6749 5.1)
        return response


@extend_schema_view(
    post=extend_schema(
        responses={
            200: AccessToken,
            401: error_response("Invalid or expired refresh token, or another org's."),
        }
    )
)
class OrgTokenRefreshView(TokenRefreshView):
    serializer_class = OrgTokenRefreshSerializer

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        add_never_cache_headers(response)
        return response
