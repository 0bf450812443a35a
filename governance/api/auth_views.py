"""JWT pair endpoints for an org's users; tokens carry the org they were issued for."""

from __future__ import annotations

from django.db import connection
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer, TokenRefreshSerializer
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView


class OrgTokenObtainPairSerializer(TokenObtainPairSerializer):
    @classmethod
    def get_token(cls, user):
        token = super().get_token(user)
        token["org"] = connection.schema_name
        return token


class OrgTokenRefreshSerializer(TokenRefreshSerializer):
    def validate(self, attrs):
        refresh = RefreshToken(attrs["refresh"])
        if refresh.get("org") != connection.schema_name:
            raise InvalidToken("Token was issued for another organization.")
        return super().validate(attrs)


class OrgTokenObtainPairView(TokenObtainPairView):
    serializer_class = OrgTokenObtainPairSerializer


class OrgTokenRefreshView(TokenRefreshView):
    serializer_class = OrgTokenRefreshSerializer
