"""The client package's metadata agrees with its code and with the versions MetaQore pins."""

from __future__ import annotations

import importlib
import tomllib

from packaging.requirements import Requirement

from metaqore_client import __version__
from tests.clients.conftest import CLIENT_PACKAGE
from tests.processes import ROOT


def _project() -> dict:
    return tomllib.loads((CLIENT_PACKAGE / "pyproject.toml").read_text())["project"]


def _pins(path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line and not line.startswith("-"):
            requirement = Requirement(line)
            pins[requirement.name.lower()] = next(iter(requirement.specifier)).version
    return pins


def test_version_scripts_and_extras():
    project = _project()
    assert project["version"] == __version__
    assert set(project["optional-dependencies"]) >= {"mcp", "langgraph", "openai-agents"}
    for name, target in project["scripts"].items():
        module, _, function = target.partition(":")
        assert callable(getattr(importlib.import_module(module), function)), name
    assert {"metaqore", "metaqore-mcp"} <= set(project["scripts"])


def test_the_extras_accept_the_versions_metaqore_tests_with():
    pins = _pins(ROOT / "requirements.txt") | _pins(ROOT / "requirements-dev.txt")
    requirements = [Requirement(text) for text in _project()["dependencies"]]
    for extra in _project()["optional-dependencies"].values():
        requirements += [Requirement(text) for text in extra]
    for requirement in requirements:
        pinned = pins[requirement.name.lower()]
        assert requirement.specifier.contains(pinned), (requirement, pinned)
