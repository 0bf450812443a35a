"""The live-event endpoints in the OpenAPI schema. Neither is a DRF view (the SSE stream is an
async Django view, the WebSocket a Channels consumer), so drf-spectacular cannot see them:
this postprocessing hook adds them, described as they behave (events/api/events.py,
events/websocket.py). Both are marked ``x-streaming``: a response that never ends, which
generic API fuzzers should not wait for."""

from __future__ import annotations

from typing import Any

FILTER_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": "event_types",
        "in": "query",
        "description": "Comma-separated patterns (`artifact.*`, `conflict.resolved`), at most "
        "20; empty: every live event.",
        "schema": {"type": "string", "maxLength": 2200},
    },
    {
        "name": "project_ids",
        "in": "query",
        "description": "Comma-separated project ids (at most 50); `project_id` is accepted too.",
        "schema": {"type": "string", "maxLength": 3300},
    },
    {
        "name": "since",
        "in": "query",
        "description": "Deliver every matching event after this seq first (resume). Default: "
        "from now on.",
        "schema": {"type": "integer", "minimum": 0},
    },
]

SSE_MESSAGE = (
    "One message per event:\n\n"
    '```\nid: <seq>\nevent: <event type>\ndata: {"type": …, "id": "evt_…", "seq": …, '
    '"timestamp": …, "organization": …, "actor": …, "project_id": …, "resource_type": …, '
    '"resource_id": …, "payload": {…}}\n```\n\n'
    "The stream starts with `retry: 2000` and `: connected at seq <n>`, and sends "
    "`: heartbeat` comments while idle. Reconnecting with `Last-Event-ID: <seq>` (browsers do) "
    "or `?since=<seq>` misses nothing."
)

WEBSOCKET_PROTOCOL = (
    "A WebSocket (`ws://<org host>/api/v1/events/ws`), not plain HTTP: the client upgrades "
    "with `Connection: Upgrade` and `Upgrade: websocket`. The credential is an agent key in "
    "`X-API-Key`, `Authorization: Bearer mq_…` or `?token=mq_…` (browsers cannot set "
    "headers on a WebSocket).\n\n"
    'Client → server JSON frames: `{"action": "subscribe", "event_types": '
    '["artifact.*"], "project_ids": ["proj_…"], "since": 41}` → '
    '`{"type": "system.subscribed", …}` then every matching event as `{"type": '
    '"<event type>", "seq": …, …}`; `{"action": "unsubscribe"}` → '
    '`{"type": "system.unsubscribed"}`; `{"action": "ping"}` → '
    '`{"type": "system.pong"}`; anything else → `{"type": "system.error", "error": '
    '"<code>", "detail": …}` (the socket stays open).\n\n'
    "Close codes: 4401 bad or missing credential, 4403 not allowed to read events, "
    "4404 unknown organization."
)


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
                    "required": ["detail"],
                }
            }
        },
    }


def live_event_paths() -> dict[str, Any]:
    security: list[dict[str, list[str]]] = [{"AgentKey": []}, {"JWT": []}, {"cookieAuth": []}]
    return {
        "/api/v1/events/stream/": {
            "get": {
                "operationId": "events_stream",
                "tags": ["events"],
                "summary": "Live governance events (Server-Sent Events)",
                "description": "Needs an ASGI server (uvicorn, gunicorn -k uvicorn, make run). "
                + SSE_MESSAGE,
                "parameters": [
                    *FILTER_PARAMETERS,
                    {
                        "name": "Last-Event-ID",
                        "in": "header",
                        "description": "The seq of the last event received (resume).",
                        "schema": {"type": "integer", "minimum": 0},
                    },
                ],
                "security": security,
                "x-streaming": True,
                "responses": {
                    "200": {
                        "description": "The event stream (never ends by itself).",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    "400": _error("A bad filter or cursor."),
                    "401": _error("No or an invalid credential."),
                    "403": _error("The role may not read events."),
                },
            }
        },
        "/api/v1/events/ws/": {
            "get": {
                "operationId": "events_websocket",
                "tags": ["events"],
                "summary": "Live governance events (WebSocket)",
                "description": WEBSOCKET_PROTOCOL,
                "parameters": [
                    {
                        "name": "token",
                        "in": "query",
                        "description": "An agent key, for clients that cannot send headers.",
                        "schema": {"type": "string", "maxLength": 200},
                    },
                ],
                "security": [{"AgentKey": []}, {}],
                "x-streaming": True,
                "x-websocket": True,
                "responses": {
                    "101": {"description": "Switching Protocols: the WebSocket is open."},
                },
            }
        },
    }


def add_live_event_paths(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """drf-spectacular postprocessing hook (``SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]``)."""
    schemes = result.get("components", {}).get("securitySchemes", {})
    paths = live_event_paths()
    for operation in (item["get"] for item in paths.values()):
        operation["security"] = [
            requirement
            for requirement in operation["security"]
            if not requirement or set(requirement) <= set(schemes)
        ]
    result.setdefault("paths", {}).update(paths)
    return result
