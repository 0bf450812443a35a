"""Where the CLI and the MCP proxy find the server and the key: command-line flags first, then
``METAQORE_URL`` / ``METAQORE_API_KEY`` / ``METAQORE_ORG`` / ``METAQORE_PROJECT``, then
``~/.config/metaqore.toml`` (or ``$METAQORE_CONFIG``)::

    url = "http://acme.localhost:8001"
    api_key = "mq_…"
    org = "acme"            # only for the bare host
    project = "proj_…"      # default --project
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PATH = Path("~/.config/metaqore.toml")
FIELDS = ("url", "api_key", "org", "project")


class ConfigError(ValueError):
    """The configuration is missing something or cannot be read."""


@dataclass(frozen=True)
class Config:
    url: str
    api_key: str
    org: str | None = None
    project: str | None = None


def config_path() -> Path:
    return Path(os.environ.get("METAQORE_CONFIG") or DEFAULT_PATH).expanduser()


def _from_file(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    section = data.get("metaqore", data)  # a [metaqore] table or top-level keys
    return {key: str(section[key]) for key in FIELDS if section.get(key)}


def load_config(**flags: str | None) -> Config:
    """Flags (None when not given) over environment variables over the config file."""
    values = _from_file(config_path())
    for key in FIELDS:
        env = os.environ.get(f"METAQORE_{key.upper()}")
        if env:
            values[key] = env
        if flags.get(key):
            values[key] = str(flags[key])
    missing = [key for key in ("url", "api_key") if not values.get(key)]
    if missing:
        names = ", ".join(f"METAQORE_{key.upper()}" for key in missing)
        raise ConfigError(f"missing {names} (set it, pass the flag, or write {config_path()})")
    return Config(
        url=values["url"],
        api_key=values["api_key"],
        org=values.get("org"),
        project=values.get("project"),
    )
