"""The SSRF guard on webhook URLs: which addresses a webhook may reach (checked when it is saved
and again, resolved, at every delivery)."""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urlsplit

from django.conf import settings

# Cloud metadata services: never a webhook, whatever METAQORE_WEBHOOK_ALLOW_PRIVATE says.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
_HOSTNAME = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*")
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


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
