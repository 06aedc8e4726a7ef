# syntax=docker/dockerfile:1
#
# Switchboard in one image: the server (the default command), `switchboard migrate`, and the
# other commands. Build:   docker build -t switchboard .
# Run:                     docker compose up   (Postgres with pgvector, Redis and the bot)
#
# The image holds no configuration and no secret: everything comes from the environment at run
# time (see .env.example).

ARG PYTHON_IMAGE=python:3.12-slim-bookworm

# ---------------------------------------------------------------------------------------------
# build: the package and its dependencies in a virtualenv that the runtime stage copies whole.
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# Dependencies first, in a layer of their own: a change to the code does not reinstall them.
# (Every dependency ships wheels, so no compiler is needed.)
COPY pyproject.toml README.md ./
RUN mkdir -p core store jobs bots \
    && touch core/__init__.py store/__init__.py jobs/__init__.py bots/__init__.py \
    && pip install . \
    && pip uninstall --yes switchboard

COPY core ./core
COPY store ./store
COPY jobs ./jobs
COPY bots ./bots
RUN pip install --no-deps . \
    && python -m compileall -q /opt/venv/lib

# ---------------------------------------------------------------------------------------------
# runtime: the virtualenv, the sample knowledge base, and an unprivileged user.
FROM ${PYTHON_IMAGE} AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SWITCHBOARD_HOST=0.0.0.0 \
    PORT=3978 \
    SWITCHBOARD_DATA_DIR=/data \
    SWITCHBOARD_SAMPLE_KNOWLEDGE=/app/examples/knowledge

RUN groupadd --system --gid 10001 switchboard \
    && useradd --system --uid 10001 --gid switchboard --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin switchboard \
    && mkdir -p /app /data \
    && chown switchboard:switchboard /data

COPY --from=build /opt/venv /opt/venv
# Ingested on first start when the index is empty; set SWITCHBOARD_SAMPLE_KNOWLEDGE= to skip.
COPY examples/knowledge /app/examples/knowledge

WORKDIR /app
USER 10001:10001
EXPOSE 3978

# /healthz answers as soon as the server is up; the slim image has no curl, Python does it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3978'), timeout=4)"]

CMD ["switchboard", "serve", "--host", "0.0.0.0"]
