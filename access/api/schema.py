"""OpenAPI descriptions of MetaQore's authentication schemes (loaded by AccessConfig)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class AgentKeyScheme(OpenApiAuthenticationExtension):
    target_class = "access.authentication.AgentKeyAuthentication"
    name = "AgentKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
            "description": "Agent API key (`mq_…`); also accepted as `Authorization: Bearer mq_…`.",
        }


class OrgJWTScheme(OpenApiAuthenticationExtension):
    target_class = "access.authentication.OrgJWTAuthentication"
    name = "JWT"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "Access token from POST /api/v1/auth/token/ (valid on its org only).",
        }
