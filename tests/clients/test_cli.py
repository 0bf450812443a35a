"""The ``metaqore`` CLI against a live server: the gate's exit codes, git-declare in a real
temporary git repository, declare, status, configuration and errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from metaqore_client import MetaQore, __version__
from metaqore_client.cli import main
from metaqore_client.gitchanges import module_of
from tests.clients.conftest import client_env, console_script
from tests.processes import free_port

# django_db: pytest-django sets the test database up only for runs that ask for it.
pytestmark = [pytest.mark.e2e, pytest.mark.django_db]


@pytest.fixture
def as_agent(server, monkeypatch, tmp_path):
    """Configure the in-process CLI as agent ``name`` through the environment."""
    base, keys = server
    monkeypatch.setenv("METAQORE_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.delenv("METAQORE_PROJECT", raising=False)

    def configure(name: str) -> None:
        monkeypatch.setenv("METAQORE_URL", base)
        monkeypatch.setenv("METAQORE_API_KEY", keys[name])
        monkeypatch.setenv("METAQORE_ORG", "client")

    configure("coder")
    return configure


def run_json(capsys, *argv: str) -> tuple[int, dict]:
    code = main([*argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def gate(server, agent: str, project_id: str, *extra: str) -> subprocess.CompletedProcess:
    base, keys = server
    env = client_env(METAQORE_URL=base, METAQORE_API_KEY=keys[agent], METAQORE_ORG="client")
    argv = [*console_script("metaqore"), "gate", "--project", project_id, *extra]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_gate_exits_1_while_something_blocks_and_0_after_resolution(server):
    base, keys = server
    coder = MetaQore(base, keys["coder"], org="client")
    tester = MetaQore(base, keys["tester"], org="client")
    project = coder.projects.create("gated")
    assert gate(server, "coder", project["id"]).returncode == 0

    coder.artifacts.declare(project["id"], "code", {"src": "a"}, file_paths=["a.py"])
    blocked = tester.artifacts.declare(project["id"], "code", {"src": "b"})
    assert blocked.blocked
    (conflict,) = blocked.conflicts

    failed = gate(server, "coder", project["id"])
    assert failed.returncode == 1, failed.stderr
    assert f"BLOCKED: {project['id']} has 1 blocked artifact(s)" in failed.stdout
    assert conflict.id in failed.stdout and "HIGH parallel_creation" in failed.stdout
    assert f"remediation: {blocked.remediation[0]['hint']}" in failed.stdout
    as_json = json.loads(gate(server, "coder", project["id"], "--json").stdout)
    assert as_json["blocked"] is True
    assert as_json["report"]["blocked_artifacts"] == [blocked.artifact_id]

    officer = MetaQore(base, keys["officer"], org="client")
    officer.governance.resolve(conflict.id, "merge", note="reviewed")
    passed = gate(server, "coder", project["id"])
    assert passed.returncode == 0 and f"ok: nothing blocks {project['id']}" in passed.stdout


def git(repo, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture
def repo(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "ci@example.com")
    git(repo, "config", "user.name", "CI")
    for path, text in {
        "src/app/api.py": "def api(): ...\n",
        "src/cli.py": "print('cli')\n",
        "docs/index.md": "# docs\n",
        "README.md": "# repo\n",
    }.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    return repo


def test_module_rule():
    assert module_of("src/app/api.py") == "src"
    assert module_of("src/app/api.py", depth=2) == "src/app"
    assert module_of("src/cli.py", depth=2) == "src"
    assert module_of("README.md") == "(root)"


def test_git_declare_staged_then_a_branch_range(server, as_agent, repo, capsys):
    project = MetaQore(server[0], server[1]["coder"], org="client").projects.create("git-repo")
    git(repo, "add", "-A")
    code, out = run_json(
        capsys, "git-declare", "--project", project["id"], "--staged", "--repo", str(repo)
    )
    assert code == 0 and out["range"] == "staged" and out["blocked"] is False
    by_module = {item["module"]: item for item in out["declarations"]}
    assert sorted(by_module) == ["(root)", "docs", "src"]
    assert {item["outcome"] for item in out["declarations"]} == {"accepted"}
    assert by_module["src"]["artifact_type"] == "module:src"
    artifact = MetaQore(server[0], server[1]["coder"], org="client").artifacts.get(
        by_module["src"]["artifact_id"]
    )
    assert sorted(artifact["file_paths"]) == ["src/app/api.py", "src/cli.py"]
    blob = git(repo, "rev-parse", ":src/cli.py").strip()
    assert artifact["data"]["files"]["src/cli.py"] == blob

    git(repo, "commit", "-qm", "first")
    git(repo, "checkout", "-qb", "feature")
    (repo / "src/cli.py").write_text("print('cli v2')\n")
    git(repo, "rm", "-q", "docs/index.md")
    git(repo, "commit", "-qam", "second")
    code, out = run_json(
        capsys, "git-declare", "--project", project["id"], "--since", "main", "--repo", str(repo)
    )
    assert code == 0 and out["range"] == "main...HEAD"
    assert out["head"] == git(repo, "rev-parse", "HEAD").strip()
    by_module = {item["module"]: item for item in out["declarations"]}
    assert sorted(by_module) == ["docs", "src"]
    assert by_module["src"]["version"] == 2
    docs = MetaQore(server[0], server[1]["coder"], org="client").artifacts.get(
        by_module["docs"]["artifact_id"]
    )
    assert docs["data"]["files"] == {"docs/index.md": None}  # deleted

    as_agent("tester")  # another agent touching the same module in parallel: blocked
    code = main(["git-declare", "--project", project["id"], "--since", "main", "--repo", str(repo)])
    text = capsys.readouterr().out
    assert code == 1
    assert "blocked: src (1 file(s))" in text and "remediation:" in text


def test_git_declare_with_nothing_staged_and_outside_a_repository(as_agent, tmp_path, capsys):
    repo = tmp_path / "empty"
    repo.mkdir()
    code, out = run_json(capsys, "git-declare", "--project", "proj_x", "--repo", str(repo))
    assert code == 2 and out["error"] == "usage" and "git" in out["message"].lower()
    git(repo, "init", "-q")
    code, out = run_json(capsys, "git-declare", "--project", "proj_x", "--repo", str(repo))
    assert code == 0 and out["declarations"] == [] and out["blocked"] is False


def test_declare_files_requirements_and_data(server, as_agent, tmp_path, capsys, monkeypatch):
    project = MetaQore(server[0], server[1]["coder"], org="client").projects.create("declare")
    source = tmp_path / "main.py"
    source.write_text("print(1)\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("METAQORE_PROJECT", project["id"])
    code, out = run_json(
        capsys,
        "declare",
        "--type",
        "code",
        "--file",
        "main.py",
        "--requires",
        "requests=>=2.31",
        "--data",
        '{"summary": "entry point"}',
    )
    assert code == 0 and out["outcome"] == "accepted" and out["version"] == 1
    artifact = MetaQore(server[0], server[1]["coder"], org="client").artifacts.get(
        out["artifact_id"]
    )
    assert artifact["file_paths"] == ["main.py"]
    assert artifact["requirements"] == {"requests": ">=2.31"}
    assert artifact["data"]["summary"] == "entry point" and "main.py" in artifact["data"]["files"]

    code, out = run_json(capsys, "declare", "--type", "code", "--version", "1")  # stale
    assert code == 1 and out["outcome"] == "blocked"
    assert out["remediation"][0]["hint"] == "declare version 2"

    code, out = run_json(capsys, "declare", "--type", "code", "--data", "[1]")
    assert code == 2 and out["error"] == "usage"
    code, out = run_json(capsys, "declare", "--type", "code", "--requires", "novalue")
    assert code == 2 and "NAME=SPEC" in out["message"]


def test_status_config_file_and_errors(server, as_agent, tmp_path, capsys, monkeypatch):
    base, keys = server
    code, out = run_json(capsys, "status")
    assert code == 0 and out["health"]["status"] == "ok" and out["policy"]["mode"] == "strict"

    for name in ("METAQORE_URL", "METAQORE_API_KEY", "METAQORE_ORG"):
        monkeypatch.delenv(name)
    code, out = run_json(capsys, "status")
    assert code == 2 and out["error"] == "usage" and "METAQORE_URL" in out["message"]

    config = tmp_path / "metaqore.toml"
    config.write_text(f'url = "{base}"\napi_key = "{keys["coder"]}"\norg = "client"\n')
    monkeypatch.setenv("METAQORE_CONFIG", str(config))
    assert run_json(capsys, "status")[0] == 0

    code, out = run_json(capsys, "status", "--api-key", "mq_not-a-key")  # flags win
    assert code == 2 and out["error"] == "api" and out["status"] == 401

    code, out = run_json(capsys, "status", "--url", f"http://127.0.0.1:{free_port()}")
    assert code == 2 and out["error"] == "connection"

    code, out = run_json(capsys, "gate", "--project", "proj_000000000000")
    assert code == 2 and out["status"] in (400, 404)


def test_python_dash_m_runs_the_cli():
    done = subprocess.run(
        [sys.executable, "-m", "metaqore_client", "--version"],
        env=client_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.strip() == f"metaqore {__version__}"
