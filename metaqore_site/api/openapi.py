"""The OpenAPI schema documents every error an operation can answer with, from one place.

DESIGN "API conventions": 400 field errors, 401 no/invalid credential, 403 role or routing veto,
404 unknown id (other orgs' ids included) or page, 409 governance block, 413 body too large,
429 rate limit. ``MetaQoreAutoSchema`` adds each to the operations where it can occur, judged
from the operation itself (body, parameters, credential, method); a view that documents a code
itself (e.g. the 409 of a blocked declaration) keeps its own. A view whose writes never meet
a governance block or a protected row says so with ``may_conflict = False``.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


class ErrorSerializer(serializers.Serializer):
    """The body of every non-400 error; governance errors add fields (e.g. ``blockers``)."""

    detail = serializers.CharField()
    code = serializers.CharField(required=False, help_text="Machine-readable reason.")


def error_response(description: str) -> OpenApiResponse:
    """For views that document an error the rules below cannot see (an id in the body)."""
    return OpenApiResponse(ErrorSerializer, description=description)


NOT_FOUND = error_response("Unknown id (ids of other organizations included).")

VALIDATION_ERROR = {
    "type": "object",
    "description": "Field errors, `{field: [messages]}` (nested for list items and objects; "
    "`non_field_errors` for the whole body), or `{detail}` for a body that is not JSON.",
    "additionalProperties": {},
}

ERRORS = {
    "400": "Invalid input.",
    "401": "No credential, or an invalid, expired or revoked one.",
    "403": "The credential's role may not do this, or a governance rule forbids it.",
    "404": "Unknown id (ids of other organizations included) or page.",
    "409": "Blocked by governance (see `code`), or still referenced by governed records.",
    "413": "Request body larger than the limit (1 MiB by default).",
    "415": "Request body is not JSON.",
    "429": "Rate limit exceeded: retry after `Retry-After` seconds.",
}
RETRY_AFTER = {
    "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."},
}


class MetaQoreAutoSchema(AutoSchema):
    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        # drf-spectacular maps a related field's ``pk_field`` by type only: add its bounds.
        pk_field = getattr(field, "pk_field", None)
        if isinstance(field, serializers.PrimaryKeyRelatedField) and pk_field is not None:
            self._insert_field_validators(pk_field, schema)
        return schema

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is not None:
            responses = operation["responses"]
            for code in self.error_codes(operation):
                responses.setdefault(code, self.error_body(code))
        return operation

    def error_codes(self, operation: dict) -> list[str]:
        locations = {parameter["in"] for parameter in operation.get("parameters", [])}
        body = "requestBody" in operation
        security = operation.get("security", [])
        credential = bool(security) and {} not in security  # {}: anonymous allowed
        codes = ["429"]  # every request is counted (governance.middleware.RateLimitMiddleware)
        if body or "query" in locations:
            codes.append("400")
        if credential:
            codes += ["401", "403"]
        if "path" in locations or (self._is_list_view() and self._get_paginator()):
            codes.append("404")
        may_conflict = getattr(self.view, "may_conflict", True)
        if credential and self.method in UNSAFE_METHODS and may_conflict:
            codes.append("409")
        if body:
            codes += ["413", "415"]
        return sorted(codes)

    def error_body(self, code: str) -> dict:
        if code == "400":
            component = ResolvedComponent(
                name="ValidationError",
                type=ResolvedComponent.SCHEMA,
                object="ValidationError",
                schema=VALIDATION_ERROR,
            )
            self.registry.register_on_missing(component)
        else:
            component = self.resolve_serializer(ErrorSerializer, "response")
        body = {
            "description": ERRORS[code],
            "content": {"application/json": {"schema": component.ref}},
        }
        if code == "429":
            body["headers"] = RETRY_AFTER
        return body
