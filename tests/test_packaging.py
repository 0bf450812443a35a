"""The Dockerfile, compose file and .env.example agree with the entrypoint and the README.

No Docker engine runs here, so the image itself is not built in tests; the entrypoint it runs
is exercised for real in tests/e2e/test_entrypoint.py.
"""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_compose_services_use_entrypoint_commands():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    entrypoint = (ROOT / "bin/entrypoint.sh").read_text()
    cases = re.findall(r"^  ([\w|]+)\)$", entrypoint, re.MULTILINE)
    commands = {command for case in cases for command in case.split("|")}
    assert {"web", "api", "migrate", "worker"} <= commands
    services = compose["services"]
    assert {"db", "redis", "web", "worker", "migrate"} <= set(services)
    for name in ("web", "worker", "migrate"):
        assert services[name]["command"][0] in commands, name
    assert services["db"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_dockerfile_runs_the_entrypoint_as_non_root_with_healthcheck():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["bin/entrypoint.sh"]' in dockerfile
    assert re.search(r"^USER metaqore$", dockerfile, re.MULTILINE)
    assert "/api/v1/health" in dockerfile and "HEALTHCHECK" in dockerfile
    assert "collectstatic" in dockerfile
    final_stage = dockerfile.split("\nFROM ")[-1]
    assert "build-essential" not in final_stage  # no compilers in the final image


def test_env_example_variables_are_documented():
    readme = (ROOT / "README.md").read_text()
    names = re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M)
    undocumented = [
        name for name in names if f"`{name}`" not in readme and not name.startswith("POSTGRES_")
    ]
    assert not undocumented, undocumented


TEST_TOOLS = ("pytest", "pytest-django", "selenium", "schemathesis", "ruff", "mypy")


def _pinned(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[=<>;\[ ]", line, maxsplit=1)[0].lower())
    return names


def test_the_runtime_requirements_carry_no_test_or_lint_tools():
    runtime = _pinned(ROOT / "requirements.txt")
    assert not runtime & set(TEST_TOOLS)
    dev = (ROOT / "requirements-dev.txt").read_text()
    assert "-r requirements.txt" in dev
    assert set(TEST_TOOLS) <= _pinned(ROOT / "requirements-dev.txt")


def test_the_image_installs_the_runtime_requirements_only():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "requirements.txt" in dockerfile
    assert "requirements-dev" not in dockerfile
