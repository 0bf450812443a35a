# syntax=docker/dockerfile:1
# MetaQore: gunicorn + uvicorn workers (ASGI), static files by whitenoise, non-root.

FROM python:3.12-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
COPY requirements.txt /tmp/requirements.txt
RUN python -m venv /opt/venv && /opt/venv/bin/pip install -r /tmp/requirements.txt

FROM python:3.12-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHON=python \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=metaqore_site.settings \
    METAQORE_LOG_FORMAT=json \
    PORT=8001
RUN useradd --system --uid 10001 --create-home --home-dir /home/metaqore metaqore
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=metaqore:metaqore . .
# Static files are collected at build time (no database needed) and served by whitenoise.
RUN SECRET_KEY=collectstatic-only DATABASE_URL=postgresql://unused@localhost/unused \
    python manage.py collectstatic --noinput --verbosity 0 \
 && chown -R metaqore:metaqore /app/staticfiles
USER metaqore
EXPOSE 8001
HEALTHCHECK --interval=30s --timeout=5s --start-period=40s --retries=3 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\", \"8001\")}/api/v1/health', timeout=4)"
ENTRYPOINT ["bin/entrypoint.sh"]
CMD ["web"]
