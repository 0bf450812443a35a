"""Badges, as the dashboard draws them (``.badge .badge-<kind>`` in dashboard/theme.css), for
the Django admin's list columns: a state is a coloured word, never a green tick."""

from __future__ import annotations

from django.utils.html import format_html
from django.utils.safestring import SafeString


def badge(text: str, kind: str | None = None) -> SafeString:
    """``<span class="badge badge-<kind>">text</span>``; ``kind`` defaults to ``text``."""
    return format_html('<span class="badge badge-{}">{}</span>', kind or text, text)


def blocked_badge(is_blocked: bool) -> SafeString | str:
    """A blocked artifact says so in red; an unblocked one shows nothing to alarm anyone."""
    return badge("blocked") if is_blocked else "—"


def available_badge(available: bool) -> SafeString:
    return badge("available", "active") if available else badge("unavailable", "critical")
