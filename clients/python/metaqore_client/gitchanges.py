"""What ``metaqore git-declare`` declares: the changed files of the index or of a commit range,
grouped into one artifact per top-level module.

The rule: a file's module is its first path component (``src/app/api.py`` → ``src``,
``docs/index.md`` → ``docs``); files at the root of the repository form the module ``(root)``.
With ``depth=2`` the first two components name the module (``src/app``). Each module becomes
one declaration of type ``module:<name>`` whose ``file_paths`` are its changed files and whose
``data`` maps each path to its new git blob id (None for a deleted file).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

ROOT_MODULE = "(root)"
DELETED = "0" * 40


class GitError(RuntimeError):
    """git failed (not a repository, unknown revision, …)."""


@dataclass
class ModuleChange:
    module: str
    files: dict[str, str | None] = field(default_factory=dict)  # path → blob id or None

    @property
    def artifact_type(self) -> str:
        return f"module:{self.module}"


def _git(args: list[str], cwd: Path) -> str:
    try:
        done = subprocess.run(  # noqa: S603 (fixed argv, no shell)
            ["git", *args],  # noqa: S607 (git from PATH, as a hook or CI step runs it)
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        raise GitError("git is not installed") from None
    if done.returncode != 0:
        raise GitError(done.stderr.strip() or f"git {' '.join(args)} failed")
    return done.stdout


def module_of(path: str, depth: int = 1) -> str:
    parts = path.split("/")
    if len(parts) == 1:
        return ROOT_MODULE
    return "/".join(parts[: min(depth, len(parts) - 1)])


def changed_modules(
    *, cwd: Path, since: str | None = None, depth: int = 1
) -> tuple[str, list[ModuleChange]]:
    """(the range described, the changed modules sorted by name). ``since=None``: the staged
    changes (what a pre-commit hook sees); otherwise ``since...HEAD`` (what a branch changed
    since it left ``since``, as CI sees a pull request)."""
    if since is None:
        described, args = "staged", ["diff", "--cached"]
    else:
        described, args = f"{since}...HEAD", ["diff", f"{since}...HEAD"]
    raw = _git([*args, "--raw", "--no-renames", "--no-abbrev", "-z"], cwd)
    modules: dict[str, ModuleChange] = {}
    fields = raw.split("\0")
    for meta, path in zip(fields[0::2], fields[1::2], strict=False):
        if not meta.startswith(":"):
            continue
        new_blob = meta.split()[3]
        change = modules.setdefault(module_of(path, depth), ModuleChange(module_of(path, depth)))
        change.files[path] = None if new_blob == DELETED else new_blob
    return described, [modules[name] for name in sorted(modules)]


def head_commit(cwd: Path) -> str | None:
    try:
        return _git(["rev-parse", "HEAD"], cwd).strip()
    except GitError:  # a repository without commits yet
        return None
