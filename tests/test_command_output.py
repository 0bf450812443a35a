"""Commands speak clearly: success in green (style.SUCCESS), warnings in yellow, never a
success message in the red that Django gives stderr by default; errors exit non-zero."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

SUCCESS = "\x1b[32;1m"  # style.SUCCESS: bold green
WARNING = "\x1b[33;1m"  # style.WARNING: bold yellow
ERROR = "\x1b[31;1m"  # style.ERROR: bold red, stderr's default


def test_create_agent_key_reports_in_green_and_prints_only_the_key_on_stdout(org_a):
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "create_agent_key", org="alpha", agent="cli-bot", stdout=out, stderr=err, force_color=True
    )
    assert out.getvalue().strip().startswith("mq_")
    messages = err.getvalue()
    assert SUCCESS + "Created key" in messages and WARNING + "Store it now" in messages
    assert ERROR not in messages


def test_audit_export_reports_in_green(org_a, tmp_path):
    err = io.StringIO()
    target = tmp_path / "trail.csv"
    call_command(
        "audit_export", org="alpha", format="csv", output=str(target), stderr=err, force_color=True
    )
    assert target.read_text().startswith("timestamp,")
    assert SUCCESS + "Exported" in err.getvalue() and ERROR not in err.getvalue()


def test_a_command_error_exits_non_zero(db):
    with pytest.raises(CommandError, match="Unknown organization"):
        call_command("create_agent_key", org="nowhere", agent="x")
