"""``Idempotency-Key`` on POSTs: a repeat of a request returns the first response (24 hours).

The record is inserted in the transaction that runs the request, so a concurrent repeat with
the same key waits on the unique index until the first request commits, then replays its
response: a retried declaration never creates two artifacts, whichever worker answers it.
Responses worth replaying are stored (2xx and 4xx answers, the 409 of a blocked declaration
included); 5xx, 429 and streamed responses are not, so a retry after those runs again. A
response marked ``Cache-Control: no-store`` (a new agent key, a webhook's secret, JWTs) is
never stored: the record only says the request ran, and a repeat gets 409
``idempotent_response_not_kept`` instead of a second key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django_tenants.utils import get_public_schema_name

from access.models import IdempotencyRecord
from metaqore_site.database import tenant_connection

HEADER = "Idempotency-Key"
METHOD = "POST"  # the only method it applies to (the OpenAPI schema documents it there)
REPLAYED_HEADER = "Idempotent-Replayed"
LIFETIME = timedelta(hours=24)
MAX_KEY_LENGTH = 255
# Response headers replayed with the stored body (others are set anew by the middleware).
KEPT_HEADERS = ("Content-Type", "Location", "X-MetaQore-Governance-Mode")


def _credential(request: HttpRequest) -> str | None:
    """A SHA-256 naming who sent the request (key, token or signed-in user), or None."""
    for header in ("X-API-Key", "Authorization"):
        value = request.headers.get(header, "").strip()
        if value:
            return hashlib.sha256(f"{header}:{value}".encode()).hexdigest()
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return hashlib.sha256(f"user:{user.pk}".encode()).hexdigest()
    return None


def _request_hash(request: HttpRequest) -> str:
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    digest.update(request.body)
    return digest.hexdigest()


def _replay(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(bytes(record.body), status=record.status)
    for name, value in record.headers.items():
        response[name] = value
    response[REPLAYED_HEADER] = "true"
    return response


def _storable(response: HttpResponse) -> bool:
    return not response.streaming and response.status_code < 500 and response.status_code != 429


def _holds_a_secret(response: HttpResponse) -> bool:
    return "no-store" in response.get("Cache-Control", "")


def _not_kept() -> JsonResponse:
    return JsonResponse(
        {
            "detail": "Already processed with this Idempotency-Key; its response held a secret "
            "shown once, so it is not replayed.",
            "code": "idempotent_response_not_kept",
        },
        status=409,
    )


def _invalid(detail: str) -> JsonResponse:
    return JsonResponse({HEADER: [detail]}, status=400)


class IdempotencyMiddleware:
    """Replays the stored response of a repeated ``POST`` with the same ``Idempotency-Key``
    from the same credential; the same key with a different request body is a 400."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        key = request.headers.get(HEADER)
        if (
            key is None
            or request.method != METHOD
            or tenant_connection.schema_name == get_public_schema_name()
        ):
            return self.get_response(request)
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            return _invalid(f"Must be 1 to {MAX_KEY_LENGTH} printable characters.")
        credential = _credential(request)
        if credential is None:  # authentication will answer 401; nothing to replay
            return self.get_response(request)
        request_hash = _request_hash(request)
        for _ in range(2):
            try:
                return self._once(request, credential, key, request_hash)
            except IntegrityError:
                continue  # a concurrent first request committed: replay it on the next turn
        return self._once(request, credential, key, request_hash)

    def _once(
        self, request: HttpRequest, credential: str, key: str, request_hash: str
    ) -> HttpResponse:
        cutoff = timezone.now() - LIFETIME
        with transaction.atomic():
            IdempotencyRecord.objects.filter(credential=credential, created_at__lt=cutoff).delete()
            record = IdempotencyRecord.objects.filter(credential=credential, key=key).first()
            if record is not None:
                if record.request_hash != request_hash:
                    return _invalid("Already used for a different request in the last 24 hours.")
                return _replay(record) if record.replayable else _not_kept()
            with transaction.atomic():  # the insert waits on a concurrent first request
                record = IdempotencyRecord.objects.create(
                    credential=credential, key=key, request_hash=request_hash, status=0, body=b""
                )
            response = self.get_response(request)
            if _storable(response) and _holds_a_secret(response):
                record.status = response.status_code
                record.replayable = False
                record.save(update_fields=["status", "replayable"])
            elif _storable(response):
                record.status = response.status_code
                record.body = response.content
                record.headers = {
                    name: response[name] for name in KEPT_HEADERS if response.has_header(name)
                }
                record.save(update_fields=["status", "body", "headers"])
            else:
                record.delete()
            return response
