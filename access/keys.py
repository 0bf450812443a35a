"""Agent API keys: create, authenticate, revoke."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from access.actors import SYSTEM, Actor
from access.models import Agent, AgentKey
from access.signals import access_audit
from metaqore_site.database import tenant_connection
from metaqore_site.governed import mark_audited
from metaqore_site.resolution_cache import ResolutionCache

PREFIX_LENGTH = 12  # "mq_" + 9 random characters: enough to find the row, useless to an attacker
LAST_USED_RESOLUTION = timedelta(seconds=60)  # avoid a write on every request
_KEY_BODY = re.compile(r"[A-Za-z0-9_-]{1,197}")  # what follows "mq_": url-safe, 200 chars at most


@dataclass(frozen=True)
class NewAgentKey:
    key: str  # the plaintext, returned once and never stored
    record: AgentKey


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def agent_key_create(
    *,
    agent_name: str,
    privileged: bool = False,
    expires_in_days: int | None = None,
    created_by: str = "system",
    actor: Actor | str = SYSTEM,
) -> NewAgentKey:
    agent_name = agent_name.strip()
    if not agent_name or len(agent_name) > 200:
        raise ValueError("Agent name must be 1-200 characters.")
    if expires_in_days is not None and expires_in_days <= 0:
        raise ValueError("--expires-in-days must be positive.")
    expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
    for _ in range(5):  # a prefix collision is astronomically rare; retry rather than fail
        raw_key = settings.METAQORE_AGENT_KEY_PREFIX + secrets.token_urlsafe(32)
        try:
            with transaction.atomic():
                agent, _created = Agent.objects.get_or_create(name=agent_name)
                record = AgentKey(
                    agent=agent,
                    prefix=raw_key[:PREFIX_LENGTH],
                    key_hash=hash_key(raw_key),
                    is_privileged=privileged,
                    expires_at=expires_at,
                    created_by=created_by,
                )
                mark_audited(record)
                record.save(force_insert=True)
                _audit_key("agent_key.created", record, actor)
            return NewAgentKey(key=raw_key, record=record)
        except IntegrityError:
            continue
    raise RuntimeError("Could not generate a unique API key prefix.")


def agent_key_authenticate(raw_key: str) -> AgentKey | None:
    """Return the active key matching ``raw_key`` or None (unknown, wrong, revoked, expired)."""
    prefix = settings.METAQORE_AGENT_KEY_PREFIX
    # Only url-safe characters can be a key; anything else (NUL included, which PostgreSQL
    # refuses in a query) is no key at all.
    if not raw_key.startswith(prefix) or not _KEY_BODY.fullmatch(raw_key[len(prefix) :]):
        return None
    row = _keys.get(
        f"key:{tenant_connection.schema_name}",
        raw_key[:PREFIX_LENGTH],
        lambda: _key_row(raw_key[:PREFIX_LENGTH]),
    )
    if row is None or not hmac.compare_digest(row.key["key_hash"], hash_key(raw_key)):
        return None
    record = AgentKey.from_db("default", list(row.key), list(row.key.values()))
    record.agent = Agent.from_db("default", list(row.agent), list(row.agent.values()))
    if not record.is_active:
        return None
    now = timezone.now()
    if record.last_used_at is None or now - record.last_used_at > LAST_USED_RESOLUTION:
        AgentKey.objects.filter(pk=record.pk).update(last_used_at=now)
        record.last_used_at = row.key["last_used_at"] = now  # the cached row too
    return record


@dataclass(frozen=True)
class _KeyRow:
    """The columns of a key and of its agent, as authentication read them."""

    key: dict[str, Any]
    agent: dict[str, Any]


# Keys by prefix, per process and schema (invalidated by NOTIFY from access.models' triggers;
# unknown prefixes are not cached, so a guessed key always costs a lookup as before).
_keys: ResolutionCache[_KeyRow | None] = ResolutionCache("agent keys")


def _key_row(prefix: str) -> _KeyRow | None:
    record = AgentKey.objects.select_related("agent").filter(prefix=prefix).first()
    if record is None:
        return None
    return _KeyRow(
        key={f.attname: getattr(record, f.attname) for f in AgentKey._meta.concrete_fields},
        agent={f.attname: getattr(record.agent, f.attname) for f in Agent._meta.concrete_fields},
    )


def _audit_key(event_type: str, record: AgentKey, actor: Actor | str) -> None:
    # Never the key nor its hash: the prefix identifies the key, the agent whose it is.
    access_audit(
        event_type,
        actor=actor,
        resource_type="agent_key",
        resource_id=record.prefix,
        agent_name=record.agent.name,
        payload={
            "agent": record.agent.name,
            "prefix": record.prefix,
            "privileged": record.is_privileged,
            "expires_at": record.expires_at,
            "revoked_at": record.revoked_at,
            "created_by": record.created_by,
        },
    )


@transaction.atomic
def agent_key_revoke(*, prefix: str, actor: Actor | str = SYSTEM) -> AgentKey:
    """Revoke the key whose stored prefix starts with ``prefix`` (must be unambiguous)."""
    prefix = prefix.strip()
    if len(prefix) < 6:
        raise ValueError("Give at least 6 characters of the key prefix.")
    candidates = list(
        AgentKey.objects.select_related("agent")
        .select_for_update(of=("self",))
        .filter(prefix__startswith=prefix[:PREFIX_LENGTH])[:2]
    )
    if not candidates:
        raise LookupError(f"No API key with prefix '{prefix}'.")
    if len(candidates) > 1:
        raise LookupError(f"Prefix '{prefix}' matches several keys; give more characters.")
    record = candidates[0]
    if record.revoked_at is None:
        record.revoked_at = timezone.now()
        mark_audited(record)
        record.save(update_fields=["revoked_at"])
        _audit_key("agent_key.revoked", record, actor)
    return record
