"""The reference every `make bench` run measures MetaQore against: a FastAPI hello world.

    .venv/bin/python -m uvicorn reference_app:app --app-dir bench --workers 1

``GET /health`` answers a small JSON body; nothing else, no database, no middleware. It is
what a team would start from instead of MetaQore, so MetaQore's costs are reported as ratios
to it, measured in the same run with the same client (absolute numbers on a shared 2-core
machine move by tens of percent between runs; the ratios move much less). FastAPI is a
bench-only dependency (requirements-dev.txt); the server never imports this module.
"""

from fastapi import FastAPI

app = FastAPI()


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}
