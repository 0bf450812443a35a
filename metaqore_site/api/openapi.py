"""The OpenAPI schema documents every error an operation can answer with, from one place.

DESIGN "API conventions": 400 field errors, 401 no/invalid credential, 403 role or routing veto,
404 unknown id (other orgs' ids included) or page, 409 governance block, 413 body too large,
429 rate limit. ``MetaQoreAutoSchema`` adds each to the operations where it can occur, judged
from the operation itself (body, parameters, credential, method); a view that documents a code
itself (e.g. the 409 of a blocked declaration) keeps its own. A view whose writes never meet
a governance block or a protected row says so with ``may_conflict = False``.

The ``Idempotency-Key`` request header (access/idempotency.py) is documented here too, on every
operation of the method it applies to (POST), with the 400 and 409 it can answer.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from access import idempotency

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
# The 409 of a POST that no governance block can meet: a repeated Idempotency-Key only.
IDEMPOTENT_409 = (
    "Only for a repeated `Idempotency-Key` whose first response held a secret shown once, and "
    "so was not kept (`idempotent_response_not_kept`)."
)
IDEMPOTENCY_KEY = OpenApiParameter(
    idempotency.HEADER,
    {"type": "string", "minLength": 1, "maxLength": idempotency.MAX_KEY_LENGTH},
    OpenApiParameter.HEADER,
    required=False,
    description=(
        f"1 to {idempotency.MAX_KEY_LENGTH} printable characters that make a retry safe: a "
        "repeat of this request (same path and body) with the same key from the same "
        "credential within 24 hours gets the first response back, with "
        "`Idempotent-Replayed: true`, without acting again. The same key with another body is "
        "a 400; a repeat of a request whose response held a secret shown once (a new agent "
        "key, a webhook's signing secret, a JWT) is a 409 `idempotent_response_not_kept`."
    ),
)
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

    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        if self.method == idempotency.METHOD:
            parameters = [*parameters, IDEMPOTENCY_KEY]
        return parameters

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is not None:
            responses = operation["responses"]
            for code, description in self.errors(operation).items():
                responses.setdefault(code, self.error_body(code, description))
        return operation

    def errors(self, operation: dict) -> dict[str, str]:
        """The error codes ``operation`` can answer with, each with what it means there."""
        parameters = operation.get("parameters", [])
        locations = {parameter["in"] for parameter in parameters}
        idempotent = any(
            (parameter["in"], parameter["name"]) == ("header", idempotency.HEADER)
            for parameter in parameters
        )
        body = "requestBody" in operation
        security = operation.get("security", [])
        credential = bool(security) and {} not in security  # {}: anonymous allowed
        codes = ["429"]  # every request is counted (governance.middleware.RateLimitMiddleware)
        if body or "query" in locations or idempotent:
            codes.append("400")
        if credential:
            codes += ["401", "403"]
        if "path" in locations or (self._is_list_view() and self._get_paginator()):
            codes.append("404")
        may_conflict = getattr(self.view, "may_conflict", True)
        governed = credential and self.method in UNSAFE_METHODS and may_conflict
        if governed or idempotent:
            codes.append("409")
        if body:
            codes += ["413", "415"]
        errors = {code: ERRORS[code] for code in sorted(codes)}
        if idempotent and not governed:
            errors["409"] = IDEMPOTENT_409
        return errors

    def error_body(self, code: str, description: str) -> dict:
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
            "description": description,
            "content": {"application/json": {"schema": component.ref}},
        }
        if code == "429":
            body["headers"] = RETRY_AFTER
        return body
