"""``metaqore-mcp``: MetaQore's MCP server for MCP clients that only speak stdio.

It serves MCP on stdin/stdout and forwards every request (tools, resources) to the server's
Streamable HTTP endpoint ``<METAQORE_URL>/mcp`` with ``METAQORE_API_KEY`` (and
``METAQORE_ORG`` for the bare host), so the answers are the server's own: the same tools,
structured results, tool errors and audit. Needs the ``mcp`` extra
(``pip install "metaqore-client[mcp]"``). Configuration as for the CLI
(``metaqore_client.config``); exit code 2 when it is missing or the server is unreachable.
"""

from __future__ import annotations

import sys
from typing import Any

import anyio
import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server import Server
from mcp.server.stdio import stdio_server

from metaqore_client.client import __version__
from metaqore_client.config import Config, ConfigError, load_config


def mcp_url(base_url: str) -> str:
    base = base_url.rstrip("/")
    return base if base.endswith("/mcp") else f"{base}/mcp"


def remote_client(config: Config) -> Client:
    headers = {"Authorization": f"Bearer {config.api_key}"}
    if config.org:
        headers["X-MetaQore-Org"] = config.org
    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=300.0))
    return Client(streamable_http_client(mcp_url(config.url), http_client=http), cache=None)


def proxy_server(remote: Client) -> Server[Any]:
    """A stdio-side server whose every handler asks ``remote``."""

    def cursor(params: types.PaginatedRequestParams | None) -> str | None:
        return params.cursor if params is not None else None

    async def list_tools(ctx: Any, params: types.PaginatedRequestParams | None) -> Any:
        return await remote.list_tools(cursor=cursor(params))

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> Any:
        return await remote.call_tool(params.name, params.arguments)

    async def list_resources(ctx: Any, params: types.PaginatedRequestParams | None) -> Any:
        return await remote.list_resources(cursor=cursor(params))

    async def list_templates(ctx: Any, params: types.PaginatedRequestParams | None) -> Any:
        return await remote.list_resource_templates(cursor=cursor(params))

    async def read_resource(ctx: Any, params: types.ReadResourceRequestParams) -> Any:
        return await remote.read_resource(str(params.uri))

    return Server(
        "metaqore-mcp",
        version=__version__,
        instructions="MetaQore governance for agents (a stdio proxy to the server's /mcp).",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_list_resource_templates=list_templates,
        on_read_resource=read_resource,
    )


async def serve(config: Config) -> None:
    async with remote_client(config) as remote:
        server = proxy_server(remote)
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())


def main() -> int:
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"metaqore-mcp: {exc}", file=sys.stderr)
        return 2
    try:
        anyio.run(serve, config)
    except Exception as exc:  # the server unreachable, the key refused (401), …
        print(f"metaqore-mcp: cannot serve {mcp_url(config.url)}: {exc!r}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
