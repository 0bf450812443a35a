"""The WebSocket protocol, in process (Channels' WebsocketCommunicator on the ASGI app)."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async

from metaqore_site.asgi import application
from tests.events.live import WebsocketCommunicator

pytestmark = pytest.mark.django_db  # writes others must see go through `committed`

PATH = "/api/v1/events/ws"


def communicator(live, *, token: str | None = None, headers=None, path: str = PATH):
    host = [(b"host", live.domain.encode())]
    if token is not None:
        path = f"{path}?token={token}"
    return WebsocketCommunicator(application, path, headers=headers or host)


def run(scenario):
    asyncio.run(asyncio.wait_for(scenario(), 20))


async def receive(ws, timeout: float = 5) -> dict:
    return json.loads(await ws.receive_from(timeout=timeout))


async def opened(ws) -> None:
    connected, _ = await ws.connect()
    assert connected


def test_subscribe_then_events_in_order(live):
    async def scenario():
        ws = communicator(live, token=live.key)
        await opened(ws)
        await ws.send_json_to(
            {"action": "subscribe", "event_types": ["artifact.*"], "project_ids": [live.project_id]}
        )
        subscribed = await receive(ws)
        assert subscribed["type"] == "system.subscribed"
        assert subscribed["event_types"] == ["artifact.*"]
        assert subscribed["project_ids"] == [live.project_id]
        declared = [(await sync_to_async(live.declare)(f"ws-{i}")).artifact.id for i in range(3)]
        events = [await receive(ws) for _ in range(3)]
        assert [e["resource_id"] for e in events] == declared
        assert all(e["type"] == "artifact.declared" for e in events)
        assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
        await ws.disconnect()

    run(scenario)


def test_ping_pong_and_unknown_action(live):
    async def scenario():
        ws = communicator(live, token=live.key)
        await opened(ws)
        await ws.send_json_to({"action": "ping"})
        assert await receive(ws) == {"type": "system.pong"}
        await ws.send_json_to({"action": "dance"})
        error = await receive(ws)
        assert (error["type"], error["error"]) == ("system.error", "unknown_action")
        await ws.send_json_to(["not", "an", "object"])
        assert (await receive(ws))["error"] == "unknown_action"
        await ws.disconnect()

    run(scenario)


def test_bad_json_does_not_close_the_socket(live):
    async def scenario():
        ws = communicator(live, token=live.key)
        await opened(ws)
        await ws.send_to(text_data="{not json")
        error = await receive(ws)
        assert (error["type"], error["error"]) == ("system.error", "invalid_json")
        await ws.send_to(bytes_data=b"\xff\xfe")
        assert (await receive(ws))["error"] == "invalid_json"
        await ws.send_json_to({"action": "ping"})
        assert await receive(ws) == {"type": "system.pong"}  # still open
        await ws.disconnect()

    run(scenario)


def test_unsubscribe_stops_events(live):
    async def scenario():
        ws = communicator(live, token=live.key)
        await opened(ws)
        await ws.send_json_to({"action": "subscribe", "event_types": ["artifact.declared"]})
        assert (await receive(ws))["type"] == "system.subscribed"
        await ws.send_json_to({"action": "unsubscribe"})
        assert await receive(ws) == {"type": "system.unsubscribed"}
        await sync_to_async(live.declare)("after-unsubscribe")
        assert await ws.receive_nothing(timeout=0.5)
        await ws.disconnect()

    run(scenario)


def test_subscribe_since_replays_and_filters_by_project(live):
    async def scenario():
        ws = communicator(live, token=live.key)
        await opened(ws)
        first = await sync_to_async(live.declare)("replayed")
        await ws.send_json_to(
            {
                "action": "subscribe",
                "event_types": ["artifact.declared"],
                "project_ids": ["proj_elsewhere"],
                "since": 0,
            }
        )
        assert (await receive(ws))["since"] == 0
        assert await ws.receive_nothing(timeout=0.5)  # every event is of another project
        await ws.send_json_to(
            {"action": "subscribe", "event_types": ["artifact.declared"], "since": 0}
        )
        assert (await receive(ws))["type"] == "system.subscribed"
        seen = []
        while first.artifact.id not in seen:
            seen.append((await receive(ws))["resource_id"])
        await ws.disconnect()

    run(scenario)


@pytest.mark.parametrize(
    "message",
    [
        {"action": "subscribe", "event_types": ["organization.*"]},
        {"action": "subscribe", "event_types": "artifact.*"},
        {"action": "subscribe", "project_ids": [5]},
        {"action": "subscribe", "since": -1},
        {"action": "subscribe", "event_types": ["artifact.<script>"]},
    ],
)
def test_invalid_subscriptions_are_errors(live, message):
    async def scenario():
        ws = communicator(live, token=live.key)
        await opened(ws)
        await ws.send_json_to(message)
        error = await receive(ws)
        assert (error["type"], error["error"]) == ("system.error", "invalid_subscription")
        await ws.disconnect()

    run(scenario)


def test_api_key_in_a_header(live):
    async def scenario():
        headers = [(b"host", live.domain.encode()), (b"x-api-key", live.key.encode())]
        ws = communicator(live, headers=headers)
        await opened(ws)
        await ws.send_json_to({"action": "ping"})
        assert await receive(ws) == {"type": "system.pong"}
        await ws.disconnect()

    run(scenario)


@pytest.mark.parametrize(
    ("token", "headers", "code"),
    [
        (None, None, 4401),
        ("mq_wrong", None, 4401),
        (None, [(b"host", b"nobody.localhost")], 4404),
        (None, [(b"host", b"evil.example")], 4404),  # not in ALLOWED_HOSTS
    ],
)
def test_refused_connections(live, token, headers, code):
    async def scenario():
        ws = communicator(live, token=token, headers=headers)
        await opened(ws)
        error = await receive(ws)
        assert error["type"] == "system.error"
        assert await ws.receive_output(timeout=2) == {"type": "websocket.close", "code": code}

    run(scenario)


def test_org_header_on_a_public_host(live):
    async def scenario():
        slug = live.organization.slug
        headers = [(b"host", b"localhost"), (b"x-metaqore-org", slug.encode())]
        ws = WebsocketCommunicator(application, f"{PATH}?token={live.key}", headers=headers)
        await opened(ws)
        await ws.send_json_to({"action": "ping"})
        assert await receive(ws) == {"type": "system.pong"}
        await ws.disconnect()

    run(scenario)


def test_a_key_works_only_in_its_own_org(live):
    async def scenario():
        ws = communicator(live, token=live.key, headers=[(b"host", b"beta.localhost")])
        await opened(ws)
        assert (await receive(ws))["error"] == "unauthorized"

    run(scenario)
