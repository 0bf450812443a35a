"""The API groups, one class each. Methods build a :class:`Call`; the client sends it, so the
same resource returns values on :class:`~metaqore_client.MetaQore` and awaitables on
:class:`~metaqore_client.AsyncMetaQore`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from metaqore_client.errors import BlockedError
from metaqore_client.models import Declaration, RoutingDecision

if TYPE_CHECKING:
    from metaqore_client.client import BaseClient


def _json(response: httpx.Response) -> Any:
    return response.json() if response.content else None


@dataclass
class Call:
    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    parse: Callable[[httpx.Response], Any] = field(default=_json)
    ok: tuple[int, ...] = ()  # statuses that are answers, not errors (e.g. 409 on declare)
    idempotency_key: str | None = None  # POSTs get a fresh one per call unless given
    headers: dict[str, str] = field(default_factory=dict)


def clean(params: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in params.items() if value is not None}


class Resource:
    def __init__(self, client: BaseClient):
        self._client = client

    def _send(self, call: Call) -> Any:
        return self._client._send(call)


class Crud(Resource):
    path = ""

    def list(self, **filters: Any) -> Any:
        """One page (``page``, ``page_size`` and the filters as keyword arguments)."""
        return self._send(Call("GET", self.path, params=clean(filters)))

    def get(self, object_id: str) -> Any:
        return self._send(Call("GET", f"{self.path}/{object_id}"))

    def update(self, object_id: str, **fields: Any) -> Any:
        return self._send(Call("PATCH", f"{self.path}/{object_id}", json=fields))

    def delete(self, object_id: str) -> Any:
        return self._send(Call("DELETE", f"{self.path}/{object_id}"))


class Projects(Crud):
    path = "projects"

    def create(self, name: str, **fields: Any) -> Any:
        return self._send(Call("POST", self.path, json={"name": name, **fields}))


class Tasks(Crud):
    path = "tasks"

    def create(self, project_id: str, title: str, **fields: Any) -> Any:
        body = {"project_id": project_id, "title": title, **fields}
        return self._send(Call("POST", self.path, json=body))


def _declaration(raise_on_block: bool) -> Callable[[httpx.Response], Declaration]:
    def parse(response: httpx.Response) -> Declaration:
        declaration = Declaration.from_json(response.json())
        if raise_on_block and declaration.blocked:
            raise BlockedError(response.status_code, response.json())
        return declaration

    return parse


class Artifacts(Crud):
    path = "artifacts"

    def declare(
        self,
        project_id: str,
        artifact_type: str,
        data: dict[str, Any],
        *,
        raise_on_block: bool = False,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> Declaration:
        """Declare an artifact. A governance block (409) comes back as ``outcome == "blocked"``
        (or raises :class:`BlockedError` with ``raise_on_block=True``). Retries reuse one
        ``Idempotency-Key``, so a retried declaration never creates two artifacts."""
        body = {"project_id": project_id, "artifact_type": artifact_type, "data": data, **fields}
        call = Call(
            "POST",
            self.path,
            json=body,
            ok=(409,),
            parse=_declaration(raise_on_block),
            idempotency_key=idempotency_key,
        )
        return self._send(call)

    def update(self, object_id: str, **fields: Any) -> Declaration:
        """Change a draft's content; the answer is a new governance decision."""
        call = Call(
            "PATCH",
            f"{self.path}/{object_id}",
            json=fields,
            ok=(409,),
            parse=_declaration(False),
        )
        return self._send(call)

    def transition(self, artifact_id: str, to: str, reason: str = "") -> Any:
        body = {"to": to, "reason": reason}
        return self._send(Call("POST", f"{self.path}/{artifact_id}/transition", json=body))


class Governance(Resource):
    def conflicts(self, **filters: Any) -> Any:
        return self._send(Call("GET", "governance/conflicts", params=clean(filters)))

    def conflict(self, conflict_id: str) -> Any:
        return self._send(Call("GET", f"governance/conflicts/{conflict_id}"))

    def resolve(self, conflict_id: str, strategy: str, note: str = "") -> Any:
        body = {"strategy": strategy, "note": note}
        return self._send(Call("POST", f"governance/conflicts/{conflict_id}/resolve", json=body))

    def blocking_report(self, project_id: str, limit: int | None = None) -> Any:
        """Counts cover every unresolved conflict; ``conflicts`` the ``limit`` most recent."""
        params = clean({"project_id": project_id, "limit": limit})
        return self._send(Call("GET", "governance/blocking-report", params=params))

    def policy(self) -> Any:
        return self._send(Call("GET", "governance/policy"))

    def update_policy(self, *, revision: int | None = None, **fields: Any) -> Any:
        """Change the policy (org admins). With ``revision``, the change is refused (409
        ``stale_revision``) if another revision was saved since that one (``If-Match``)."""
        headers = {"If-Match": str(revision)} if revision is not None else {}
        return self._send(Call("PATCH", "governance/policy", json=fields, headers=headers))

    # policy as rules: simulation, revisions, decisions, waivers (README "Rolling out a rule")

    def simulate(
        self,
        *,
        mode: str | None = None,
        rules: list[dict[str, Any]] | None = None,
        since: str | None = None,
        last: int | None = None,
    ) -> Any:
        """Replay recorded decisions under a proposed mode and/or rules; changes nothing."""
        body = {
            "policy": clean({"mode": mode, "rules": rules}),
            **clean({"since": since, "last": last}),
        }
        return self._send(Call("POST", "governance/policy/simulate", json=body))

    def rules_report(self, days: int = 7) -> Any:
        return self._send(Call("GET", "governance/policy/rules/report", params={"days": days}))

    def revisions(self, **filters: Any) -> Any:
        return self._send(Call("GET", "governance/policy/revisions", params=clean(filters)))

    def restore_revision(self, number: int) -> Any:
        return self._send(Call("POST", f"governance/policy/revisions/{number}/restore"))

    def decisions(self, **filters: Any) -> Any:
        """The decision log (filters: ``project``, ``outcome``, ``rule``, ``since``)."""
        return self._send(Call("GET", "governance/decisions", params=clean(filters)))

    def waivers(self, **filters: Any) -> Any:
        return self._send(Call("GET", "governance/waivers", params=clean(filters)))

    def grant_waiver(self, match: dict[str, Any], justification: str, expires_at: str) -> Any:
        body = {"match": match, "justification": justification, "expires_at": expires_at}
        return self._send(Call("POST", "governance/waivers", json=body))

    def revoke_waiver(self, waiver_id: str, reason: str = "") -> Any:
        body = {"reason": reason}
        return self._send(Call("POST", f"governance/waivers/{waiver_id}/revoke", json=body))


class Routing(Resource):
    def classify(self, **task: Any) -> RoutingDecision:
        call = Call(
            "POST",
            "governance/routing/classify",
            json=task,
            parse=lambda r: RoutingDecision.from_json(r.json()),
        )
        return self._send(call)

    def enforce(self, provider: str, **task: Any) -> RoutingDecision:
        """Ask before sending work to ``provider``; a veto is a decision, not an exception."""
        call = Call(
            "POST",
            "governance/routing/enforce",
            json={"provider": provider, **task},
            ok=(403,),
            parse=lambda r: RoutingDecision.from_json(r.json()),
        )
        return self._send(call)

    def providers(self, **filters: Any) -> Any:
        return self._send(Call("GET", "governance/providers", params=clean(filters)))


class Audit(Resource):
    def events(self, **filters: Any) -> Any:
        return self._send(Call("GET", "governance/compliance/audit", params=clean(filters)))

    def event(self, event_id: str) -> Any:
        return self._send(Call("GET", f"governance/compliance/audit/{event_id}"))

    def verify(self) -> Any:
        return self._send(Call("GET", "governance/compliance/verify"))

    def export(self, format: str, path: str | Path, **filters: Any) -> Any:
        """Stream an export (csv, json, jsonl) to ``path``; returns the bytes written."""
        params = {"format": format, **clean(filters)}
        return self._client._download("governance/compliance/export", params, Path(path))


class Skills(Crud):
    path = "specialists/skills"

    def create(self, skill_id: str, max_specialist_size_mb: float, **fields: Any) -> Any:
        body = {"skill_id": skill_id, "max_specialist_size_mb": max_specialist_size_mb, **fields}
        return self._send(Call("POST", self.path, json=body))


class TrainingJobs(Resource):
    """The training worker's side: claim a job (leased), then complete or fail it."""

    path = "specialists/training-jobs"

    def list(self, **filters: Any) -> Any:
        return self._send(Call("GET", self.path, params=clean(filters)))

    def get(self, job_id: str) -> Any:
        return self._send(Call("GET", f"{self.path}/{job_id}"))

    def claim(self, job_id: str) -> Any:
        return self._send(Call("POST", f"{self.path}/{job_id}/claim"))

    def claim_next(self) -> Any:
        """The oldest queued job, claimed; None when the queue is empty (204)."""
        return self._send(Call("POST", f"{self.path}/claim-next"))

    def complete(self, job_id: str, metrics: dict[str, Any]) -> Any:
        body = {"metrics": metrics}
        return self._send(Call("POST", f"{self.path}/{job_id}/complete", json=body))

    def fail(self, job_id: str, reason: str) -> Any:
        return self._send(Call("POST", f"{self.path}/{job_id}/fail", json={"reason": reason}))


class Specialists(Resource):
    """HMCP: skills, proposals (evaluate without side effects, propose to declare), the
    lifecycle of a specialist, its observations, discoveries and the hierarchy policy."""

    path = "specialists"

    def __init__(self, client: BaseClient):
        super().__init__(client)
        self.skills = Skills(client)
        self.training_jobs = TrainingJobs(client)

    def list(self, **filters: Any) -> Any:
        return self._send(Call("GET", self.path, params=clean(filters)))

    def get(self, specialist_id: str) -> Any:
        return self._send(Call("GET", f"{self.path}/{specialist_id}"))

    def evaluate(self, **proposal: Any) -> Any:
        """The hierarchy rules' verdict on a proposal, with every reason; changes nothing."""
        return self._send(Call("POST", f"{self.path}/evaluate", json=proposal))

    def propose(self, *, idempotency_key: str | None = None, **proposal: Any) -> Any:
        """Declare a specialist. A PSMP block (409) is returned like a declaration is (its
        ``governance`` says why); a proposal the rules refuse raises ``Refused`` (422)."""
        call = Call("POST", self.path, json=proposal, ok=(409,), idempotency_key=idempotency_key)
        return self._send(call)

    def transition(self, specialist_id: str, to: str, reason: str = "") -> Any:
        body = {"to": to, "reason": reason}
        return self._send(Call("POST", f"{self.path}/{specialist_id}/transition", json=body))

    def observe(self, specialist_id: str, **observation: Any) -> Any:
        path = f"{self.path}/{specialist_id}/observations"
        return self._send(Call("POST", path, json=observation))

    def discoveries(self, **query: Any) -> Any:
        return self._send(Call("GET", f"{self.path}/discoveries", params=clean(query)))

    def policy(self) -> Any:
        return self._send(Call("GET", f"{self.path}/policy"))

    def update_policy(self, **fields: Any) -> Any:
        return self._send(Call("PATCH", f"{self.path}/policy", json=fields))


class Webhooks(Crud):
    path = "webhooks"

    def create(self, url: str, event_types: list[str], **fields: Any) -> Any:
        """Register a webhook; the answer carries its signing ``secret`` (shown once)."""
        body = {"url": url, "event_types": event_types, **fields}
        return self._send(Call("POST", self.path, json=body))

    def deliveries(self, webhook_id: str, **filters: Any) -> Any:
        path = f"{self.path}/{webhook_id}/deliveries"
        return self._send(Call("GET", path, params=clean(filters)))
