"""JSON log lines carry the request id and the organization of the request they describe."""

from __future__ import annotations

import json
import logging

from metaqore_site.logging import JsonFormatter, RequestContextFilter
from tests.conftest import client_for, make_agent_key


class Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines: list[dict] = []
        self.addFilter(RequestContextFilter())
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


def test_django_request_warnings_carry_the_request_id(org_a):
    """django.request logs a 4xx after the middleware has returned: the line still names the
    request (it used to have an empty request_id)."""
    handler = Lines()
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    try:
        client = client_for(org_a, key=make_agent_key(org_a))
        response = client.get("/api/v1/projects/proj_0000000000000000", HTTP_X_REQUEST_ID="req-42")
    finally:
        logger.removeHandler(handler)
    assert response.status_code == 404
    assert response["X-Request-ID"] == "req-42"
    [line] = [line for line in handler.lines if line["logger"] == "django.request"]
    assert line["level"] == "WARNING"
    assert line["request_id"] == "req-42"
    assert line["org"] == org_a.schema_name
