"""MetaQore's MCP server: Streamable HTTP at ``/mcp`` on an organization's host.

Every tool and resource is a call to the REST API (``/api/v1``) made in process with the MCP
request's own credential and organization headers, through the same Django stack: the same
authentication, permissions, rate limits, privileged rules, idempotency and audit (actor
``agent:<name>``), and the same JSON. ``metaqore_mcp.tools`` declares the tools and resources,
``metaqore_mcp.summaries`` writes the paragraph an LLM reads beside the JSON, and
``metaqore_mcp.http`` mounts the server in the ASGI application (see metaqore_site/asgi.py).
"""

# Where the server answers; here, not in metaqore_mcp.http, so that the WSGI entry can name the
# paths (it answers them 501) without loading the MCP SDK.
MCP_PATHS = ("/mcp", "/mcp/")
