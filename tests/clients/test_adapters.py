"""The framework adapters end to end against a live MetaQore, each with its framework's own
fake model (no network): a LangGraph graph and an OpenAI Agents SDK agent whose first run is
accepted and whose conflicting run (another agent, the same artifact line) is blocked."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any, TypedDict

import pytest
from agents import Agent, Runner, function_tool, set_tracing_disabled
from agents.testing import ScriptedModel, assistant_message, function_call
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langgraph.graph import END, START, StateGraph

from metaqore_client import AsyncMetaQore, MetaQore
from metaqore_client.adapters.langgraph import MetaQoreGate
from metaqore_client.adapters.openai_agents import metaqore_tool_guardrail
from tests.processes import subprocess_env

# django_db: pytest-django sets the test database up only for runs that ask for it.
pytestmark = [pytest.mark.e2e, pytest.mark.django_db]


class State(TypedDict, total=False):
    task: str
    code: dict[str, Any]
    applied: list[str]
    handled: str
    metaqore: dict[str, Any]


def code_graph(gate: MetaQoreGate, model: FakeListChatModel, *, use_async: bool = False):
    def write_code(state: State) -> dict[str, Any]:
        return {"code": {"src": model.invoke(state["task"]).content}}

    async def awrite_code(state: State) -> dict[str, Any]:
        return {"code": {"src": (await model.ainvoke(state["task"])).content}}

    def apply(state: State) -> dict[str, Any]:
        return {"applied": [state["code"]["src"]]}

    def blocked(state: State) -> dict[str, Any]:
        return {"handled": state["metaqore"]["message"]}

    node = gate.node(
        awrite_code if use_async else write_code, artifact_type="code", output_key="code"
    )
    builder = StateGraph(State)
    builder.add_node("write_code", node)
    builder.add_node("apply", apply)
    builder.add_node("blocked", blocked)
    builder.add_edge(START, "write_code")
    builder.add_conditional_edges("write_code", gate.route, {"ok": "apply", "blocked": "blocked"})
    builder.add_edge("apply", END)
    builder.add_edge("blocked", END)
    return builder.compile()


def test_langgraph_routes_a_blocked_output_to_the_blocked_branch(server):
    base, keys = server
    coder = MetaQore(base, keys["coder"], org="client")
    project = coder.projects.create("langgraph")
    model = FakeListChatModel(responses=["print('v1')", "print('v2')"])

    first = code_graph(MetaQoreGate(coder, project["id"]), model).invoke({"task": "write it"})
    assert first["applied"] == ["print('v1')"] and "handled" not in first
    assert first["metaqore"]["outcome"] == "accepted"
    declared = coder.artifacts.get(first["metaqore"]["artifact_id"])
    assert declared["data"] == {"src": "print('v1')"} and declared["created_by"] == "agent:coder"

    tester = MetaQore(base, keys["tester"], org="client")
    second = code_graph(MetaQoreGate(tester, project["id"]), model).invoke({"task": "write it"})
    assert "applied" not in second and "code" not in second  # the blocked work never applied
    answer = second["metaqore"]
    assert answer["blocked"] and answer["outcome"] == "blocked"
    (conflict,) = answer["conflicts"]
    assert conflict["conflict_type"] == "parallel_creation"
    assert second["handled"] == answer["message"]
    assert conflict["id"] in answer["message"] and "remediation:" in answer["message"]
    assert tester.artifacts.get(answer["artifact_id"])["is_blocked"] is True


def test_langgraph_async_node_with_the_async_client(server):
    base, keys = server
    project = MetaQore(base, keys["coder"], org="client").projects.create("langgraph-async")
    model = FakeListChatModel(responses=["print('async')"])

    async def run() -> dict[str, Any]:
        async with AsyncMetaQore(base, keys["coder"], org="client") as mq:
            graph = code_graph(MetaQoreGate(mq, project["id"]), model, use_async=True)
            return await graph.ainvoke({"task": "write it"})

    result = asyncio.run(run())
    assert result["applied"] == ["print('async')"] and result["metaqore"]["outcome"] == "accepted"
    with pytest.raises(TypeError):  # a sync node cannot await the async client
        MetaQoreGate(AsyncMetaQore(base, keys["coder"]), "p").node(
            lambda state: state, artifact_type="code", output_key="code"
        )


def coding_agent(client: Any, project_id: str, model: ScriptedModel, applied: list[str]) -> Agent:
    guardrail = metaqore_tool_guardrail(
        client, project_id=project_id, artifact_type="code", file_paths_argument="path"
    )

    @function_tool(tool_input_guardrails=[guardrail])
    def write_file(path: str, content: str) -> str:
        """Write a file."""
        applied.append(path)
        return f"wrote {path}"

    return Agent(name="coder", instructions="Write code.", model=model, tools=[write_file])


def scripted(call_id: str) -> ScriptedModel:
    return ScriptedModel(
        [
            [function_call("write_file", {"path": "app.py", "content": "x = 1"}, call_id=call_id)],
            [assistant_message("done")],
        ]
    )


def test_openai_agents_guardrail_declares_and_rejects_a_blocked_call(server):
    set_tracing_disabled(True)
    base, keys = server
    project = MetaQore(base, keys["coder"], org="client").projects.create("openai-agents")
    applied: list[str] = []

    async def run(agent_key: str, call_id: str) -> tuple[Any, ScriptedModel]:
        model = scripted(call_id)
        async with AsyncMetaQore(base, keys[agent_key], org="client") as mq:
            agent = coding_agent(mq, project["id"], model, applied)
            return await Runner.run(agent, "write app.py"), model

    accepted, model = asyncio.run(run("coder", "call-1"))
    assert applied == ["app.py"] and accepted.final_output == "done"
    (guarded,) = accepted.tool_input_guardrail_results
    info = guarded.output.output_info
    assert info["outcome"] == "accepted"
    artifact = MetaQore(base, keys["coder"], org="client").artifacts.get(info["artifact_id"])
    assert artifact["file_paths"] == ["app.py"] and artifact["created_by"] == "agent:coder"
    assert artifact["data"] == {
        "tool": "write_file",
        "arguments": {"path": "app.py", "content": "x = 1"},
    }
    assert artifact["metadata"] == {"call_id": "call-1"}

    rejected, model = asyncio.run(run("tester", "call-2"))
    assert applied == ["app.py"]  # the blocked call never ran
    (guarded,) = rejected.tool_input_guardrail_results
    info = guarded.output.output_info
    assert info["blocked"] and guarded.output.behavior["type"] == "reject_content"
    assert guarded.output.behavior["message"] == info["message"]
    conflict_id = info["conflicts"][0]["id"]
    seen_by_model = json.dumps(model.last_call.input, default=str)
    assert "MetaQore blocked this work" in seen_by_model and conflict_id in seen_by_model


def test_openai_agents_guardrail_with_the_sync_client(server):
    set_tracing_disabled(True)
    base, keys = server
    mq = MetaQore(base, keys["coder"], org="client")
    project = mq.projects.create("openai-agents-sync")
    applied: list[str] = []
    agent = coding_agent(mq, project["id"], scripted("call-3"), applied)
    result = asyncio.run(Runner.run(agent, "write app.py"))
    assert applied == ["app.py"] and result.final_output == "done"
    assert mq.artifacts.list(project_id=project["id"])["count"] == 1


def test_the_server_runs_without_the_agent_frameworks():
    """The frameworks are test tools (requirements-dev.txt) and client extras: the server's
    requirements do not pin them and the ASGI application does not import them."""
    from tests.processes import ROOT
    from tests.test_packaging import _pinned

    frameworks = {"langgraph", "openai-agents", "langchain-core", "openai"}
    assert not _pinned(ROOT / "requirements.txt") & frameworks
    assert {"langgraph", "openai-agents"} <= _pinned(ROOT / "requirements-dev.txt")
    code = (
        "import sys, metaqore_site.asgi; "
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'langgraph', 'langchain_core', 'agents', 'openai', 'metaqore_client'}); "
        "print(loaded); sys.exit(1 if loaded else 0)"
    )
    env = subprocess_env(DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
