"""Structured logs: one JSON object per line with the request id and the organization."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from metaqore_site.middleware import current_request_id


class RequestContextFilter(logging.Filter):
    """Adds ``request_id`` and ``org`` (the current schema) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        # django.request logs a 4xx/5xx after the middleware returned (the context variable
        # is reset by then) but passes the request along: take its id from there.
        request = getattr(record, "request", None)
        record.request_id = current_request_id.get() or getattr(request, "request_id", "") or ""
        try:
            from django.db import connection

            record.org = getattr(connection, "schema_name", "") or ""
        except Exception:  # logging must never fail because the database layer is not ready
            record.org = ""
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", ""),
            "org": getattr(record, "org", ""),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)
