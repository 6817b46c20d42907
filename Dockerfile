# netmon in one container: web server, task cluster and monitor loop (`manage.py serve`).
#   docker build -t netmon .
#   docker run -d -p 8080:8080 -v "$PWD/data:/app/data" -e NETMON_BASE_URL=http://monitor.example:8080 netmon
# Arguments after the image name go to `serve`, e.g. `--only worker --no-migrate`.
# Compose setup, volumes and the scale-out topology: docs/deployment.md.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: a virtualenv with netmon's dependencies, the code, collected static files ---
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /app

# Dependencies first, in a layer of their own: rebuilt only when the lock file changes.
# The versions pinned, with their hashes, by scripts/lock.sh: the ones CI tested.
COPY requirements/runtime.txt requirements/runtime.txt
RUN pip install --require-hashes --requirement requirements/runtime.txt

COPY . .
# The project itself, editable: /app stays the code that runs (templates, the client
# script and manage.py live next to it) and /opt/venv/bin/netmon-run exists.
# collectstatic (hashed, compressed files: netmon/build_settings.py) needs settings, hence
# a throwaway key and data directory for this step only: neither is left in the image,
# which generates its real key into the data volume at first start.
RUN pip install --no-deps --editable . \
    && SECRET_KEY=build-time-only-collectstatic-key-not-used-at-runtime \
       NETMON_DATA_DIR=/tmp/build-data NETMON_ENV_FILE='' \
       DJANGO_SETTINGS_MODULE=netmon.build_settings \
       python manage.py collectstatic --noinput --verbosity 0 \
    && test -f staticfiles/staticfiles.json \
    && rm -rf /tmp/build-data \
    && test -f scripts/client-heartbeat.sh \
    && python -m compileall -q /app \
    && pip uninstall --yes --quiet pip setuptools \
    && find /opt/venv -type d -name LC_MESSAGES -not -path '*/en/LC_MESSAGES' -prune \
       -exec rm -rf {} + \
    && find /opt/venv -name '*.po' -delete \
    && rm -r /opt/venv/lib/python3.11/site-packages/drf_spectacular_sidecar/static
# Left out of the runtime image: pip and setuptools (they build, they do not run), and the
# dependencies' translations into other languages than English — netmon's pages are in
# English and activate no other language (no LocaleMiddleware) — and their *.po sources;
# and the Swagger UI files, which collectstatic has just copied to staticfiles/.

# --- runtime: slim Python, the virtualenv and /app from the build, a non-root user ---
FROM ${PYTHON_IMAGE} AS runtime

# uid/gid 1000 by default: usually the owner of ./data and ~/.ssh on the Docker host.
ARG NETMON_UID=1000
ARG NETMON_GID=1000
RUN groupadd --gid "${NETMON_GID}" netmon \
    && useradd --uid "${NETMON_UID}" --gid netmon --create-home --home-dir /home/netmon \
       --shell /usr/sbin/nologin netmon

COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
RUN mkdir -p /app/data /home/netmon/.ssh \
    && chown netmon:netmon /app/data /home/netmon/.ssh \
    && chmod 0700 /app/data /home/netmon/.ssh

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    NETMON_DATA_DIR=/app/data \
    WEB_BIND=0.0.0.0:8080
WORKDIR /app
USER ${NETMON_UID}:${NETMON_GID}
# The SQLite database and the generated secret key.
VOLUME ["/app/data"]
EXPOSE 8080

# netmon/healthcheck.py, shared with compose.yaml: 200 from /api/v1/health on the address
# serve listens on (its --bind, else WEB_BIND); for --only worker/monitor, serve's
# children running.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-m", "netmon.healthcheck"]

ENTRYPOINT ["python", "manage.py", "serve"]
CMD []
