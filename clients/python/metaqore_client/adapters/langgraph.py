"""LangGraph: declare a node's output to MetaQore before the graph applies it, and route the
graph to a "blocked" branch (with the remediation in state) when MetaQore blocks it.

    gate = MetaQoreGate(mq, project_id="proj_…")

    builder = StateGraph(State)
    builder.add_node("write_code", gate.node(write_code, artifact_type="code", output_key="code"))
    builder.add_node("apply", apply_code)
    builder.add_node("blocked", ask_a_human)
    builder.add_conditional_edges("write_code", gate.route, {"ok": "apply", "blocked": "blocked"})

The wrapped node runs the original node, declares ``update[output_key]`` (a dict is declared as
is, anything else as ``{"value": …}``) and returns the node's update with the governance answer
under ``state_key`` (default ``"metaqore"``): ``artifact_id``, ``outcome``, ``blocked``,
``conflicts``, ``remediation`` and ``message``. When blocked, ``output_key`` is left out of the
update, so the blocked work never reaches the graph's state. Sync nodes take a
:class:`~metaqore_client.MetaQore`; async nodes (``async def``) either client.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from metaqore_client.adapters.common import declare_async, outcome

OK = "ok"
BLOCKED = "blocked"


class MetaQoreGate:
    def __init__(self, client: Any, project_id: str, *, state_key: str = "metaqore"):
        self.client = client
        self.project_id = project_id
        self.state_key = state_key

    def _declaration_args(
        self, update: Mapping[str, Any], artifact_type: str, output_key: str, file_paths_key: str
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        value = update[output_key]
        data = dict(value) if isinstance(value, Mapping) else {"value": value}
        fields: dict[str, Any] = {}
        if file_paths_key and update.get(file_paths_key):
            fields["file_paths"] = list(update[file_paths_key])
        return (self.project_id, artifact_type, data), fields

    def _governed_update(self, update: Mapping[str, Any], output_key: str, declaration) -> dict:
        answer = outcome(declaration)
        kept = {k: v for k, v in update.items() if not (declaration.blocked and k == output_key)}
        return {**kept, self.state_key: answer}

    def node(
        self,
        fn: Callable[..., Any],
        *,
        artifact_type: str,
        output_key: str,
        file_paths_key: str = "",
    ) -> Callable[..., Any]:
        """Wrap a LangGraph node whose update carries its output under ``output_key``."""
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_node(state: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
                update = await fn(state, *args, **kwargs)
                if not update or output_key not in update:
                    return update
                call, fields = self._declaration_args(
                    update, artifact_type, output_key, file_paths_key
                )
                declaration = await declare_async(self.client, *call, **fields)
                return self._governed_update(update, output_key, declaration)

            return async_node

        if getattr(self.client, "is_async", False):
            raise TypeError("a sync node needs a sync MetaQore client (or make the node async)")

        @functools.wraps(fn)
        def sync_node(state: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
            update = fn(state, *args, **kwargs)
            if not update or output_key not in update:
                return update
            call, fields = self._declaration_args(update, artifact_type, output_key, file_paths_key)
            declaration = self.client.artifacts.declare(*call, **fields)
            return self._governed_update(update, output_key, declaration)

        return sync_node

    def route(self, state: Mapping[str, Any]) -> str:
        """For ``add_conditional_edges``: ``"blocked"`` when the last declaration was blocked,
        else ``"ok"``."""
        answer = state.get(self.state_key) or {}
        return BLOCKED if answer.get("blocked") else OK
