"""The MCP server at /mcp, through the official ``mcp`` SDK's own client over Streamable HTTP,
and the same journey through the ``metaqore-mcp`` stdio proxy."""

from __future__ import annotations

import asyncio
import json
import subprocess

import httpx
import httpx2
import pytest
from django.db import connection
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from metaqore_client import MetaQore
from tests.clients.conftest import client_env, console_script
from tests.conftest import make_agent_key
from tests.processes import database_url, free_port, running_server, subprocess_env

# django_db: pytest-django sets the test database up only for runs that ask for it.
pytestmark = [pytest.mark.e2e, pytest.mark.django_db]

TOOLS = {
    "create_project",
    "list_projects",
    "create_task",
    "declare_artifact",
    "update_artifact",
    "transition_artifact",
    "get_artifact",
    "list_conflicts",
    "blocking_report",
    "resolve_conflict",
    "classify_task",
    "enforce_routing",
    "get_policy",
}


def http_client(server, agent: str) -> Client:
    base, keys = server
    http = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {keys[agent]}", "X-MetaQore-Org": "client"},
        timeout=30,
    )
    return Client(streamable_http_client(f"{base}/mcp", http_client=http))


def stdio_client(server, agent: str) -> Client:
    base, keys = server
    argv = console_script("metaqore-mcp")
    env = client_env(METAQORE_URL=base, METAQORE_API_KEY=keys[agent], METAQORE_ORG="client")
    return Client(StdioServerParameters(command=argv[0], args=argv[1:], env=env))


async def journey(server, connect) -> dict:
    """List the tools, declare (accepted), declare a conflicting artifact (tool error with the
    conflicts), resolve as a compliance officer through REST, see the artifact activate."""
    base, keys = server
    seen: dict = {}
    async with connect(server, "coder") as coder, connect(server, "tester") as tester:
        listed = await coder.list_tools()
        seen["tools"] = {tool.name for tool in listed.tools}

        project = await coder.call_tool("create_project", {"name": "mcp-journey"})
        assert not project.is_error, project.content
        project_id = project.structured_content["id"]

        first = await coder.call_tool(
            "declare_artifact",
            {
                "project_id": project_id,
                "artifact_type": "code",
                "data": {"src": "print(1)"},
                "file_paths": ["app.py"],
            },
        )
        seen["first"] = first
        second = await tester.call_tool(
            "declare_artifact",
            {"project_id": project_id, "artifact_type": "code", "data": {"src": "print(2)"}},
        )
        seen["second"] = second
        artifact_id = second.structured_content["id"]
        conflict_id = second.structured_content["governance"]["conflicts"][0]["id"]

        report = await tester.read_resource(f"metaqore://projects/{project_id}/blocking-report")
        seen["report"] = json.loads(report.contents[0].text)
        policy = await tester.read_resource("metaqore://policy")
        seen["policy"] = json.loads(policy.contents[0].text)

        vetoed = await tester.call_tool(
            "enforce_routing", {"provider": "openrouter", "has_private_data": True}
        )
        seen["vetoed"] = vetoed
        override = await tester.call_tool(
            "resolve_conflict", {"conflict_id": conflict_id, "strategy": "override"}
        )
        seen["agent_override"] = override

        officer = MetaQore(base, keys["officer"], org="client")
        officer.governance.resolve(conflict_id, "merge", note="reviewed through REST")

        activated = await tester.call_tool(
            "transition_artifact", {"artifact_id": artifact_id, "to": "active"}
        )
        seen["activated"] = activated
        fetched = await tester.call_tool("get_artifact", {"artifact_id": artifact_id})
        seen["fetched"] = fetched
    seen["project_id"] = project_id
    return seen


def check_journey(seen: dict) -> None:
    assert seen["tools"] >= TOOLS
    first = seen["first"]
    assert not first.is_error
    assert first.structured_content["governance"]["outcome"] == "accepted"
    assert "accepted" in first.content[0].text

    second = seen["second"]
    assert second.is_error is True
    body = second.structured_content
    assert body["governance"]["outcome"] == "blocked" and body["is_blocked"] is True
    (conflict,) = body["governance"]["conflicts"]
    assert conflict["conflict_type"] == "parallel_creation" and conflict["severity"] == "high"
    assert body["governance"]["remediation"][0]["conflict_id"] == conflict["id"]
    text = second.content[0].text
    assert text.startswith("BLOCKED:") and conflict["id"] in text and "remediation" in text

    assert seen["report"]["blocked_artifacts"] == [body["id"]]
    assert seen["policy"]["mode"] == "strict"
    vetoed = seen["vetoed"]
    assert vetoed.is_error and vetoed.structured_content["allowed"] is False
    assert vetoed.content[0].text.startswith("VETOED:")
    override = seen["agent_override"]  # agents may not override HIGH: the REST 403, as an error
    assert override.is_error and "HTTP 403" in override.content[0].text

    activated = seen["activated"]
    assert not activated.is_error, activated.content
    assert activated.structured_content["state"] == "active"
    fetched = seen["fetched"].structured_content
    assert fetched["state"] == "active" and fetched["is_blocked"] is False
    assert fetched["created_by"] == "agent:tester"


def test_mcp_over_streamable_http(server):
    seen = asyncio.run(journey(server, http_client))
    check_journey(seen)
    base, keys = server
    audit = MetaQore(base, keys["studio"], org="client").audit.events(
        event_type="artifact.declared", resource_id=seen["second"].structured_content["id"]
    )
    (event,) = audit["results"]
    assert event["actor"] == "agent:tester"  # the same audit as REST


def test_mcp_over_the_stdio_proxy(server):
    check_journey(asyncio.run(journey(server, stdio_client)))


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer mq_not-a-real-key"},
        {"X-API-Key": "garbage"},
    ],
)
def test_mcp_without_a_valid_key_is_401(server, headers):
    base, _ = server
    response = httpx.post(
        f"{base}/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"X-MetaQore-Org": "client", **headers},
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_mcp_with_another_orgs_key_is_401(server, org_b):
    base, _ = server
    other = make_agent_key(org_b, "outsider")
    response = httpx.post(
        f"{base}/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"X-MetaQore-Org": "client", "Authorization": f"Bearer {other}"},
    )
    assert response.status_code == 401


def test_mcp_tool_calls_share_the_rest_rate_limit(server):
    """A second server with a limit of 3 requests a minute: two tool calls and one REST call
    use the key's budget, so the next tool call is a tool error carrying the 429."""
    _, keys = server
    env = subprocess_env(
        DATABASE_URL=database_url(connection.settings_dict),
        METAQORE_ENABLE_RATE_LIMIT="true",
        METAQORE_RATE_LIMIT_PER_MINUTE="3",
        METAQORE_RATE_LIMIT_BURST="3",
        REDIS_URL="",
    )
    with running_server(env, kind="gunicorn") as limited:

        async def calls() -> list:
            results = []
            async with http_client((limited, keys), "trainer") as mcp:
                results.append(await mcp.call_tool("get_policy", {}))
                results.append(await mcp.call_tool("list_projects", {}))
                MetaQore(limited, keys["trainer"], org="client", max_retries=0).governance.policy()
                results.append(await mcp.call_tool("get_policy", {}))
            return results

        first, second, third = asyncio.run(calls())
    assert not first.is_error and not second.is_error
    assert third.is_error and "HTTP 429" in third.content[0].text
    assert "retry_after" in third.structured_content


def test_the_stdio_proxy_exits_2_without_configuration_or_server(server):
    _, keys = server
    argv = console_script("metaqore-mcp")
    missing = subprocess.run(argv, env=client_env(), capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "METAQORE_URL" in missing.stderr
    env = client_env(METAQORE_URL=f"http://127.0.0.1:{free_port()}", METAQORE_API_KEY=keys["coder"])
    down = subprocess.run(
        argv, env=env, input="", capture_output=True, text=True, timeout=60, check=False
    )
    assert down.returncode == 2 and "cannot serve" in down.stderr


def test_mcp_on_the_organizations_own_host(server):
    """Plain JSON-RPC over HTTP, the org chosen by its host (client.localhost), no org header."""
    base, keys = server
    port = base.rsplit(":", 1)[1]
    headers = {
        "Host": f"client.localhost:{port}",
        "Authorization": f"Bearer {keys['coder']}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2025-06-18",
    }
    response = httpx.post(
        f"{base}/mcp",
        json={"jsonrpc": "2.0", "id": 7, "method": "tools/list"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == 7 and {tool["name"] for tool in body["result"]["tools"]} >= TOOLS
    called = httpx.post(
        f"{base}/mcp",
        json={
            "jsonrpc": "2.0",
            "id": 8,
            "method": "tools/call",
            "params": {"name": "get_policy", "arguments": {}},
        },
        headers=headers,
    ).json()["result"]
    assert called["isError"] is False and called["structuredContent"]["mode"] == "strict"
