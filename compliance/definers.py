"""The only two ways an audit event changes after it is written, as SECURITY DEFINER functions.

The runtime database role may not UPDATE or DELETE audit events at all (``metaqore_site.
db_roles``); erasure and retention call these functions instead, which run as the schema's
owner and check their arguments themselves:

- ``metaqore_audit_erase(erasure_id)``: the erasure row must be approved (by someone other than
  its requester, with its ``compliance.erasure_approved`` event in the trail); it blanks only
  the personal columns of the events its subject names (``compliance.erasure``) and returns
  how many it redacted.
- ``metaqore_audit_prune(upto, base_hash)``: ``upto``/``base_hash`` must be a signed checkpoint
  ahead of the chain's current base and not past its head; it deletes the events up to it,
  moves the head's base there and returns how many it deleted (``compliance.retention``).

The event guard (``AUDIT_EVENT_GUARD``) and the head guard (``HEAD_GUARD``) let a change
through only when the current user owns the table, as it does inside these functions, *and*
the function declared it (``ERASURE_SETTING``/``PRUNE_SETTING``): a runtime session setting
those variables itself is still refused.

Each function's ``search_path`` is pinned (``pg_catalog, pg_temp``: a session's temporary
objects cannot stand in for a catalog table) and every table is qualified with the schema the
function lives in; a cloned schema gets them rewritten to its own name (django-tenants'
``clone_schema`` replaces ``<template>.`` in function bodies), and the catalog comparison of
``tenants.provisioning`` sees the same definition in both.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

from compliance.models import ERASURE_SETTING, PRUNE_SETTING

ERASE_FUNCTION = "metaqore_audit_erase"
PRUNE_FUNCTION = "metaqore_audit_prune"
SIGNATURES = (f"{ERASE_FUNCTION}(text)", f"{PRUNE_FUNCTION}(bigint, text)")

# {s} is the schema (quote_ident'ed by the database). Fixed text otherwise: no input reaches it.
ERASE_SQL = f"""
CREATE OR REPLACE FUNCTION {{s}}.{ERASE_FUNCTION}(p_erasure_id text) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $erase$
DECLARE
    e record;
    subject jsonb;
    keys text[];
    contained jsonb;
    who text;
    redacted integer := 0;
    more integer := 0;
BEGIN
    SELECT * INTO e FROM {{s}}.compliance_erasure WHERE id = p_erasure_id FOR UPDATE;
    IF NOT FOUND OR e.status <> 'approved' OR coalesce(e.approved_by, '') = ''
       OR e.approved_by = e.requested_by
       OR NOT EXISTS (SELECT 1 FROM {{s}}.compliance_auditevent
                      WHERE event_type = 'compliance.erasure_approved'
                        AND resource_id = e.id) THEN
        RAISE EXCEPTION 'compliance: erasure % is not an approved erasure', p_erasure_id
            USING ERRCODE = '42501';
    END IF;
    subject := e.subject;
    PERFORM set_config('{ERASURE_SETTING}', e.id, true);
    IF subject ? 'field' AND subject ? 'equals'
       AND subject ->> 'field' ~ '^payload(\\.[A-Za-z0-9_\\-]{{1,100}}){{1,10}}$' THEN
        keys := (string_to_array(subject ->> 'field', '.'))[2:];
        contained := subject -> 'equals';
        FOR i IN REVERSE array_length(keys, 1)..1 LOOP
            contained := jsonb_build_object(keys[i], contained);
        END LOOP;
        UPDATE {{s}}.compliance_auditevent SET payload = '{{}}', salt = '', erasure_id = e.id
        WHERE payload @> contained;
        GET DIAGNOSTICS redacted = ROW_COUNT;
    ELSIF subject ? 'actor' AND subject ->> 'actor' ~ '^(agent|user):' THEN
        who := subject ->> 'actor';
        UPDATE {{s}}.compliance_auditevent
        SET payload = '{{}}', salt = '', erasure_id = e.id, actor = 'redacted', agent_name = ''
        WHERE actor = who;
        GET DIAGNOSTICS redacted = ROW_COUNT;
        IF starts_with(who, 'agent:') THEN
            UPDATE {{s}}.compliance_auditevent
            SET payload = '{{}}', salt = '', erasure_id = e.id, agent_name = ''
            WHERE agent_name = substr(who, 7);
            GET DIAGNOSTICS more = ROW_COUNT;
        END IF;
    ELSE
        RAISE EXCEPTION 'compliance: erasure % names no erasable subject', p_erasure_id
            USING ERRCODE = '22023';
    END IF;
    PERFORM set_config('{ERASURE_SETTING}', '', true);
    RETURN redacted + more;
END
$erase$;
"""  # noqa: S608

PRUNE_SQL = f"""
CREATE OR REPLACE FUNCTION {{s}}.{PRUNE_FUNCTION}(p_upto bigint, p_base_hash text)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $prune$
DECLARE
    head record;
    removed bigint := 0;
BEGIN
    SELECT * INTO head FROM {{s}}.compliance_auditchainhead WHERE id = 1 FOR UPDATE;
    IF NOT FOUND OR p_upto <= head.base_seq OR p_upto > head.seq
       OR NOT EXISTS (SELECT 1 FROM {{s}}.compliance_auditcheckpoint
                      WHERE event_count = p_upto AND head_hash = p_base_hash
                        AND signature <> '') THEN
        RAISE EXCEPTION 'compliance: % is not a signed checkpoint ahead of the chain base',
            p_upto USING ERRCODE = '42501';
    END IF;
    PERFORM set_config('{PRUNE_SETTING}', p_upto::text, true);
    DELETE FROM {{s}}.compliance_auditevent WHERE seq <= p_upto;
    GET DIAGNOSTICS removed = ROW_COUNT;
    UPDATE {{s}}.compliance_auditchainhead SET base_seq = p_upto, base_hash = p_base_hash
    WHERE id = 1;
    PERFORM set_config('{PRUNE_SETTING}', '', true);
    RETURN removed;
END
$prune$;
"""  # noqa: S608


def definers_install(connection: Any, schema: str) -> None:
    """(Re)create both functions in ``schema``, owned by the connected (owner) role; only the
    roles granted EXECUTE (``metaqore_site.db_roles``) may call them."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT quote_ident(%s)", [schema])
        quoted = cursor.fetchone()[0]
        for text in (ERASE_SQL, PRUNE_SQL):
            cursor.execute(text.replace("{s}", quoted))
        for signature in SIGNATURES:
            cursor.execute(f"REVOKE ALL ON FUNCTION {quoted}.{signature} FROM PUBLIC")


def _install(apps: Any, schema_editor: Any) -> None:
    connection = schema_editor.connection
    definers_install(connection, getattr(connection, "schema_name", "public") or "public")


def _uninstall(apps: Any, schema_editor: Any) -> None:
    with schema_editor.connection.cursor() as cursor:
        for signature in SIGNATURES:
            cursor.execute(f"DROP FUNCTION IF EXISTS {signature}")


def definers_operation() -> migrations.RunPython:
    """The migration operation that installs them in the schema being migrated."""
    return migrations.RunPython(_install, _uninstall)
