# USD/JPY tariff-scenario pricing service.
# Build: docker build -t fxscen .   Run: docker run -p 8000:8000 -v fxscen-data:/app/data fxscen
# Stop with a timeout above FXSCEN_SHUTDOWN_TIMEOUT (30 s drain): docker stop -t 40
# Settings come from the environment (README "Settings", "Deploying"): FXSCEN_DATABASE_URL
# (default: SQLite on the /app/data volume; postgresql+psycopg://… for a shared store, with
# FXSCEN_DATABASE_PASSWORD_FILE for its password), FXSCEN_AUTH, FXSCEN_DASK_SCHEDULER,
# FXSCEN_ADMIN_TOKEN_FILE (the first admin key). Migrations run at start; as a one-shot
# command: docker run --rm fxscen fxscen db upgrade. The same image runs the Dask scheduler
# (dask scheduler) and workers (dask worker tcp://scheduler:8786): deploy/compose.yaml.
FROM python:3.11-slim

# the build /v1/health and /v1/ready report: docker build --build-arg BUILD=$(git rev-parse --short HEAD)
ARG BUILD=dev

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FXSCEN_HOST=0.0.0.0 \
    FXSCEN_PORT=8000 \
    FXSCEN_WORKERS=2 \
    NUMBA_CACHE_DIR=/tmp/numba-cache \
    FXSCEN_DATABASE_URL=sqlite:////app/data/fxscen.sqlite \
    FXSCEN_BUILD=$BUILD

WORKDIR /app
COPY pyproject.toml README.md constraints.txt ./
COPY pricing ./pricing
COPY scenarios ./scenarios
COPY service ./service
COPY store ./store
RUN pip install -c constraints.txt . \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin fxscen \
    && mkdir -p /app/data && chown 10001 /app/data
# the embedded store (SQLite) lives here: mount a volume to keep it across containers
VOLUME /app/data
USER 10001

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['FXSCEN_PORT'] + '/v1/ready', timeout=4)"]
CMD ["fxscen", "serve"]
