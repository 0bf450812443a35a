"""The directory where a server's worker processes share their Prometheus values
(``PROMETHEUS_MULTIPROC_DIR``, see metaqore_site/metrics.py), for the two servers' masters:
gunicorn.conf.py and metaqore_site/api_server.py. Imports no Django: masters do not load it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

PREFIX = "metaqore-prometheus-"


def metrics_directory_create() -> str:
    """A fresh directory, exported as ``PROMETHEUS_MULTIPROC_DIR`` before the workers start
    (they inherit it), after removing those of masters that were killed (no clean exit)."""
    for directory in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        pid = directory.name.removeprefix(PREFIX).split("-")[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists() and Path("/proc/self").exists():
            shutil.rmtree(directory, ignore_errors=True)
    created = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = created
    return created


def metrics_directory_empty() -> None:
    """Values left in ``PROMETHEUS_MULTIPROC_DIR`` by a previous run would be added to ours:
    start empty (once, before the first worker)."""
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()


def metrics_directory_remove(created: str | None) -> None:
    if created:
        shutil.rmtree(created, ignore_errors=True)
