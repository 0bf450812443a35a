"""OpenAI Agents SDK: a tool input guardrail that declares each call of a tool to MetaQore
before the tool runs, and rejects the call (the model gets the conflicts and the remediation
instead of the tool's result) when MetaQore blocks it.

    guardrail = metaqore_tool_guardrail(mq, project_id="proj_…", artifact_type="code",
                                        file_paths_argument="path")

    @function_tool(tool_input_guardrails=[guardrail])
    def write_file(path: str, content: str) -> str: ...

The declaration's data is ``{"tool": name, "arguments": {…}}``; its type is ``artifact_type``
(default ``tool:<name>``). Accepted: the call goes ahead and ``output_info`` holds the
governance answer; blocked: ``reject_content`` with a paragraph for the model. Works with the
sync and the async client.
"""

from __future__ import annotations

import json
from typing import Any

from agents import ToolGuardrailFunctionOutput, ToolInputGuardrail, ToolInputGuardrailData

from metaqore_client.adapters.common import declare_async, outcome


def metaqore_tool_guardrail(
    client: Any,
    *,
    project_id: str,
    artifact_type: str | None = None,
    file_paths_argument: str | None = None,
    name: str = "metaqore_declaration",
) -> ToolInputGuardrail[Any]:
    async def declare_call(data: ToolInputGuardrailData) -> ToolGuardrailFunctionOutput:
        context = data.context
        try:
            arguments = json.loads(context.tool_arguments or "{}")
        except json.JSONDecodeError:
            arguments = {"raw": context.tool_arguments}
        fields: dict[str, Any] = {}
        if file_paths_argument and isinstance(arguments, dict):
            paths = arguments.get(file_paths_argument)
            if paths:
                fields["file_paths"] = [paths] if isinstance(paths, str) else list(paths)
        declaration = await declare_async(
            client,
            project_id,
            artifact_type or f"tool:{context.tool_name}",
            {"tool": context.tool_name, "arguments": arguments},
            metadata={"call_id": context.tool_call_id},
            **fields,
        )
        answer = outcome(declaration)
        if declaration.blocked:
            return ToolGuardrailFunctionOutput.reject_content(answer["message"], answer)
        return ToolGuardrailFunctionOutput.allow(answer)

    return ToolInputGuardrail(guardrail_function=declare_call, name=name)
