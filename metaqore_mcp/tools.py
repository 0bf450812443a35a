"""The MCP tools and resources. Arguments mirror the REST bodies; each result carries the REST
response's JSON as structured content and a one-paragraph summary as text. A governance block
(409), a routing veto (403) and every other error are tool errors (``isError``) whose structured
content is the API's error body, so the model sees why and what to do."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult, ContentBlock, TextContent

from metaqore_mcp import summaries
from metaqore_mcp.api import ApiAnswer, InProcessApi, request_headers

INSTRUCTIONS = (
    "MetaQore governs what agents produce. Declare each piece of work (declare_artifact) before "
    "applying it; if the result is an error with outcome 'blocked', do not apply the work: "
    "follow the remediation or wait for a compliance officer to resolve the conflicts. Ask "
    "enforce_routing before sending data to a model provider."
)

Severity = Literal["low", "medium", "high", "critical"]
Strategy = Literal["retry", "override", "merge", "escalate"]


def _tool_result(text: str, body: dict[str, Any], *, is_error: bool) -> CallToolResult:
    content: list[ContentBlock] = [TextContent(type="text", text=text)]
    return CallToolResult(content=content, structured_content=body, is_error=is_error)


def _result(answer: ApiAnswer, summary: Callable[[Any], str]) -> CallToolResult:
    body = answer.body if isinstance(answer.body, dict) else {"results": answer.body}
    text = summary(body) if answer.ok else summaries.error(answer.status, body)
    return _tool_result(text, body, is_error=not answer.ok)


def _declaration_result(answer: ApiAnswer) -> CallToolResult:
    if answer.status == 409 and "governance" in answer.body:  # blocked: the 409 body
        return _tool_result(summaries.declaration(answer.body), answer.body, is_error=True)
    return _result(answer, summaries.declaration)


def _fields(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def build_server(api: InProcessApi, *, version: str = "") -> MCPServer:
    server = MCPServer("MetaQore", version=version, instructions=INSTRUCTIONS)

    async def call(method: str, path: str, **kwargs: Any) -> ApiAnswer:
        """The API call, with the credential and org headers of the MCP request being served."""
        return await api.request(method, path, request_headers.get(), **kwargs)

    @server.tool()
    async def create_project(
        name: str,
        description: str | None = None,
        status: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> CallToolResult:
        """Create a project (POST /api/v1/projects)."""
        body = _fields(name=name, description=description, status=status, metadata=metadata)
        answer = await call("POST", "projects", body=body)
        return _result(answer, lambda b: f"Created project {b.get('id')} ({b.get('name')}).")

    @server.tool()
    async def list_projects(
        status: str | None = None,
        search: str | None = None,
        page: int | None = None,
        page_size: int | None = None,
    ) -> CallToolResult:
        """List the organization's projects (GET /api/v1/projects), newest first."""
        params = _fields(status=status, search=search, page=page, page_size=page_size)
        answer = await call("GET", "projects", params=params)
        return _result(answer, lambda b: summaries.page(b, "projects"))

    @server.tool()
    async def create_task(
        project_id: str,
        title: str,
        description: str | None = None,
        status: str | None = None,
        assigned_to: str | None = None,
        depends_on: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        sensitivity: str | None = None,
    ) -> CallToolResult:
        """Create a task in a project (POST /api/v1/tasks)."""
        body = _fields(
            project_id=project_id,
            title=title,
            description=description,
            status=status,
            assigned_to=assigned_to,
            depends_on=depends_on,
            metadata=metadata,
            sensitivity=sensitivity,
        )
        answer = await call("POST", "tasks", body=body)
        return _result(
            answer,
            lambda b: (
                f"Created task {b.get('id')} ({b.get('title')}), sensitivity "
                f"{b.get('sensitivity')}."
            ),
        )

    @server.tool()
    async def declare_artifact(
        project_id: str,
        artifact_type: str,
        data: dict[str, Any],
        version: int | None = None,
        depends_on: list[str] | None = None,
        file_paths: list[str] | None = None,
        requirements: dict[str, str] | None = None,
        metadata: dict[str, Any] | None = None,
        created_by: str | None = None,
    ) -> CallToolResult:
        """Declare a piece of work before applying it (POST /api/v1/artifacts). Accepted: go
        ahead. Blocked (an error whose structured content has governance.outcome 'blocked'):
        do not apply it; the conflicts and remediation say why and what to do."""
        body = _fields(
            project_id=project_id,
            artifact_type=artifact_type,
            data=data,
            version=version,
            depends_on=depends_on,
            file_paths=file_paths,
            requirements=requirements,
            metadata=metadata,
            created_by=created_by,
        )
        return _declaration_result(await call("POST", "artifacts", body=body))

    @server.tool()
    async def update_artifact(
        artifact_id: str,
        data: dict[str, Any] | None = None,
        depends_on: list[str] | None = None,
        file_paths: list[str] | None = None,
        requirements: dict[str, str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> CallToolResult:
        """Change a draft artifact's content and re-run the checks (PATCH
        /api/v1/artifacts/{id}); a block is an error, as for declare_artifact."""
        body = _fields(
            data=data,
            depends_on=depends_on,
            file_paths=file_paths,
            requirements=requirements,
            metadata=metadata,
        )
        answer = await call("PATCH", f"artifacts/{artifact_id}", body=body)
        return _declaration_result(answer)

    @server.tool()
    async def transition_artifact(
        artifact_id: str, to: Literal["active", "archived"], reason: str = ""
    ) -> CallToolResult:
        """Move an artifact through its lifecycle (POST /api/v1/artifacts/{id}/transition):
        draft → active needs no unresolved conflict and active dependencies."""
        body = {"to": to, "reason": reason}
        answer = await call("POST", f"artifacts/{artifact_id}/transition", body=body)
        return _result(answer, lambda b: f"Artifact {b.get('id')} is now {b.get('state')}.")

    @server.tool()
    async def get_artifact(artifact_id: str) -> CallToolResult:
        """One artifact (GET /api/v1/artifacts/{id}): its state, whether it is blocked, data."""
        answer = await call("GET", f"artifacts/{artifact_id}")
        return _result(
            answer,
            lambda b: (
                f"Artifact {b.get('id')} ({b.get('artifact_type')} v{b.get('version')}): "
                f"state {b.get('state')}, {'BLOCKED' if b.get('is_blocked') else 'not blocked'}."
            ),
        )

    @server.tool()
    async def list_conflicts(
        project_id: str | None = None,
        artifact_id: str | None = None,
        severity: Severity | None = None,
        status: Literal["open", "escalated", "resolved"] | None = None,
        resolved: bool | None = None,
        page: int | None = None,
        page_size: int | None = None,
    ) -> CallToolResult:
        """Conflicts between declarations (GET /api/v1/governance/conflicts)."""
        params = _fields(
            project_id=project_id,
            artifact_id=artifact_id,
            severity=severity,
            status=status,
            resolved=None if resolved is None else str(resolved).lower(),
            page=page,
            page_size=page_size,
        )
        answer = await call("GET", "governance/conflicts", params=params)
        return _result(answer, lambda b: summaries.page(b, "conflicts"))

    @server.tool()
    async def blocking_report(project_id: str, limit: int | None = None) -> CallToolResult:
        """What blocks a project now and how to unblock it (GET
        /api/v1/governance/blocking-report)."""
        params = _fields(project_id=project_id, limit=limit)
        answer = await call("GET", "governance/blocking-report", params=params)
        return _result(answer, summaries.blocking_report)

    @server.tool()
    async def resolve_conflict(
        conflict_id: str, strategy: Strategy, note: str = ""
    ) -> CallToolResult:
        """Resolve a conflict (POST /api/v1/governance/conflicts/{id}/resolve). Agents may not
        override HIGH or CRITICAL conflicts: a compliance officer does."""
        body = {"strategy": strategy, "note": note}
        answer = await call("POST", f"governance/conflicts/{conflict_id}/resolve", body=body)
        return _result(
            answer, lambda b: f"Conflict {b.get('id')} is {b.get('status')} ({strategy})."
        )

    @server.tool()
    async def classify_task(
        agent_name: str = "",
        task_type: str = "",
        has_private_data: bool = False,
        has_sensitive_data: bool = False,
        is_security_task: bool = False,
        min_sensitivity: str | None = None,
    ) -> CallToolResult:
        """The sensitivity of a task and the providers allowed for it (POST
        /api/v1/governance/routing/classify)."""
        body = _fields(
            agent_name=agent_name,
            task_type=task_type,
            has_private_data=has_private_data,
            has_sensitive_data=has_sensitive_data,
            is_security_task=is_security_task,
            min_sensitivity=min_sensitivity,
        )
        answer = await call("POST", "governance/routing/classify", body=body)
        return _result(answer, lambda b: summaries.routing(b, vetoed=False))

    @server.tool()
    async def enforce_routing(
        provider: str,
        agent_name: str = "",
        task_type: str = "",
        has_private_data: bool = False,
        has_sensitive_data: bool = False,
        is_security_task: bool = False,
        min_sensitivity: str | None = None,
        task_id: str = "",
        project_id: str = "",
    ) -> CallToolResult:
        """Ask before sending work to a model provider (POST
        /api/v1/governance/routing/enforce); a veto is an error with the allowed providers."""
        body = _fields(
            provider=provider,
            agent_name=agent_name,
            task_type=task_type,
            has_private_data=has_private_data,
            has_sensitive_data=has_sensitive_data,
            is_security_task=is_security_task,
            min_sensitivity=min_sensitivity,
            task_id=task_id,
            project_id=project_id,
        )
        answer = await call("POST", "governance/routing/enforce", body=body)
        if answer.status == 403 and "veto" in answer.body:  # vetoed: the 403 body
            text = summaries.routing(answer.body, vetoed=True)
            return _tool_result(text, answer.body, is_error=True)
        return _result(answer, lambda b: summaries.routing(b, vetoed=False))

    @server.tool()
    async def get_policy() -> CallToolResult:
        """The organization's governance policy (GET /api/v1/governance/policy)."""
        answer = await call("GET", "governance/policy")
        return _result(answer, lambda b: summaries.generic(b, "Governance policy"))

    async def resource(path: str, params: dict[str, Any] | None = None) -> str:
        answer = await call("GET", path, params=params)
        if not answer.ok:
            raise ValueError(summaries.error(answer.status, answer.body))
        return json.dumps(answer.body, sort_keys=True)

    @server.resource("metaqore://policy", mime_type="application/json")
    async def policy_resource() -> str:
        """The organization's governance policy."""
        return await resource("governance/policy")

    @server.resource(
        "metaqore://projects/{project_id}/blocking-report", mime_type="application/json"
    )
    async def blocking_report_resource(project_id: str) -> str:
        """What blocks the project now, with remediation."""
        return await resource("governance/blocking-report", {"project_id": project_id})

    return server
