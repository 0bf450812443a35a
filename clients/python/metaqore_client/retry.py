"""How long to wait before retrying a 429/503 or a dropped connection."""

from __future__ import annotations

import random

import httpx

RETRY_STATUSES = (429, 503)
MAX_RETRY_AFTER = 60.0


def retry_delay(response: httpx.Response | None, attempt: int) -> float:
    """``Retry-After`` (seconds, capped at a minute) when the server sent one; otherwise
    exponential backoff with jitter (0.5 s, 1 s, 2 s, … up to 30 s)."""
    if response is not None:
        header = response.headers.get("Retry-After", "").strip()
        if header.isdigit():
            return min(float(header), MAX_RETRY_AFTER)
    return min(0.5 * 2**attempt, 30.0) * (0.5 + random.random() / 2)  # noqa: S311
