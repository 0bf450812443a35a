"""Webhooks: the write path for an org's subscriptions, and the SSRF guard on their URLs.

Delivery (the worker, retries, signatures) is in ``events.webhook_delivery``.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction

from access.actors import Actor
from compliance.audit import audit_for, audit_record
from compliance.models import AuditChainHead
from events.events import EventFilterError, parse_globs
from events.models import Webhook, WebhookDelivery
from metaqore_site.governed import mark_audited

# Cloud metadata services: never a webhook, whatever METAQORE_WEBHOOK_ALLOW_PRIVATE says.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
_HOSTNAME = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*")
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
AUDITED_FIELDS = ("url", "event_types", "active", "description")


class WebhookError(ValueError):
    """A webhook that cannot be saved (bad URL, bad patterns); nothing was changed."""

    def __init__(self, message: str, field: str = "url"):
        super().__init__(message)
        self.field = field


class UnsafeWebhookURL(WebhookError):
    """The URL points at an address webhooks may not reach (SSRF guard)."""


def _address_refusal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why a webhook may not connect to ``address`` (None: it may)."""
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_multicast or address.is_unspecified:
        return "not a unicast address"
    if settings.METAQORE_WEBHOOK_ALLOW_PRIVATE:
        return None
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if not address.is_global:
        return "a private or reserved address"
    return None


def webhook_url_check(url: str, *, resolve: bool = False) -> list[str]:
    """Refuse URLs a webhook may not reach; return the addresses it may connect to.

    Only http(s), no credentials in the URL; the host (a literal IP, or every address the name
    resolves to when ``resolve``) must be public unless ``METAQORE_WEBHOOK_ALLOW_PRIVATE``,
    and never a cloud metadata address. Delivery checks again with ``resolve=True`` and
    connects to a checked address, so a name that later resolves elsewhere gains nothing.
    """
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise UnsafeWebhookURL("Invalid URL: no spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeWebhookURL(f"Invalid URL: {exc}.") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeWebhookURL("Only http and https URLs can be webhooks.")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise UnsafeWebhookURL("The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeWebhookURL("Put no credentials in the URL; the signature authenticates us.")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
        try:
            ascii_host = host.encode("idna").decode("ascii")
        except UnicodeError:
            ascii_host = ""
        if not _HOSTNAME.fullmatch(ascii_host):
            raise UnsafeWebhookURL(f"Invalid host name {host[:100]!r}.") from None
    local_name = host in _LOCAL_NAMES or host.endswith(".localhost")
    if literal is None and local_name and not settings.METAQORE_WEBHOOK_ALLOW_PRIVATE:
        raise UnsafeWebhookURL(f"{host} is a loopback name.")
    if literal is not None:
        addresses = [literal]
    elif resolve:
        try:
            infos = socket.getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise UnsafeWebhookURL(f"Cannot resolve {host}: {exc}.") from None
        addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
    else:
        return []
    for address in addresses:
        refusal = _address_refusal(address)
        if refusal:
            raise UnsafeWebhookURL(f"{host} is {refusal} ({address}); webhooks may not call it.")
    return [str(address) for address in addresses]


def _globs(event_types: Iterable) -> list[str]:
    try:
        return list(parse_globs(event_types))
    except EventFilterError as exc:
        raise WebhookError(str(exc), field="event_types") from None


def _snapshot(webhook: Webhook) -> dict:
    return {name: getattr(webhook, name) for name in AUDITED_FIELDS}


@transaction.atomic
def webhook_create(
    *,
    actor: Actor | str,
    url: str,
    event_types: Iterable[str] = (),
    secret: str = "",
    active: bool = True,
    description: str = "",
) -> Webhook:
    """A new webhook; it receives events committed from now on. The secret is generated when
    not given (the caller shows it once)."""
    webhook_url_check(url)
    webhook = Webhook(
        url=url,
        event_types=_globs(event_types),
        secret=secret or secrets.token_urlsafe(32),
        active=active,
        description=description,
        created_by=str(actor),
        last_seq=AuditChainHead.objects.filter(pk=1).values_list("seq", flat=True).first() or 0,
    )
    mark_audited(webhook).save(force_insert=True)
    audit_for("webhook.created", webhook, actor=actor, payload={"after": _snapshot(webhook)})
    return webhook


@transaction.atomic
def webhook_update(*, webhook: Webhook, actor: Actor | str, changes: dict) -> Webhook:
    """Change url, event_types, secret, active or description. Re-activating a webhook clears
    its failure state; events that arrived meanwhile are delivered (at least once)."""
    webhook = Webhook.objects.select_for_update().get(pk=webhook.pk)
    before = _snapshot(webhook)
    if "url" in changes:
        webhook_url_check(changes["url"])
        webhook.url = changes["url"]
    if "event_types" in changes:
        webhook.event_types = _globs(changes["event_types"])
    if "description" in changes:
        webhook.description = changes["description"]
    secret_changed = bool(changes.get("secret")) and changes["secret"] != webhook.secret
    if secret_changed:
        webhook.secret = changes["secret"]
    if "active" in changes and changes["active"] != webhook.active:
        webhook.active = changes["active"]
        if webhook.active:
            webhook.failing_since = None
            webhook.disabled_at = None
            webhook.disabled_reason = ""
    after = _snapshot(webhook)
    changed = [name for name in AUDITED_FIELDS if before[name] != after[name]]
    if not changed and not secret_changed:
        return webhook
    mark_audited(webhook).save()
    payload: dict[str, Any] = {
        "before": {name: before[name] for name in changed},
        "after": {name: after[name] for name in changed},
    }
    if secret_changed:
        payload["secret_changed"] = True
    audit_for("webhook.updated", webhook, actor=actor, payload=payload)
    return webhook


@transaction.atomic
def webhook_delete(*, webhook: Webhook, actor: Actor | str) -> None:
    snapshot = _snapshot(webhook)
    audit_for("webhook.deleted", webhook, actor=actor, payload={"before": snapshot})
    mark_audited(webhook).delete()


@transaction.atomic
def webhook_test_send(*, webhook: Webhook, actor: Actor | str) -> WebhookDelivery:
    """Queue a ``webhook.test`` event for this one webhook, whatever its patterns: the event
    is recorded in the trail (who asked) and its delivery row is created in the same
    transaction, so the worker POSTs it like any other (signed, retried, in the log)."""
    webhook = Webhook.objects.select_for_update().get(pk=webhook.pk)
    if not webhook.active:
        raise WebhookError("The webhook is paused: resume it to send a test event.", "active")
    event = audit_record(
        event_type="webhook.test",
        actor=actor,
        resource_type="webhook",
        resource_id=webhook.id,
        payload={"url": webhook.url, "message": "A test event from MetaQore."},
    )
    return WebhookDelivery.objects.create(
        webhook=webhook, event_seq=event.seq, event_id=event.id, event_type=event.event_type
    )
