# syntax=docker/dockerfile:1
# Humphrey: one image, two commands (web and worker).
#   docker run IMAGE            -> Daphne (HTTP + websockets) on :8000
#   docker run IMAGE worker     -> the django-tasks database worker

FROM node:20-slim AS assets
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY static/scss static/scss
RUN mkdir -p static/vendor/govuk static/vendor/css \
 && cp -r node_modules/govuk-frontend/dist/govuk/assets static/vendor/govuk/assets \
 && cp node_modules/govuk-frontend/dist/govuk/govuk-frontend.min.js static/vendor/govuk/ \
 && npx sass --quiet --style=compressed --no-source-map --load-path=node_modules/govuk-frontend/dist \
      static/scss/humphrey.scss static/vendor/css/humphrey.css

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /venv
# CPU-only torch first: the default index would pull a multi-GB CUDA build.
RUN /venv/bin/pip install "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
RUN /venv/bin/pip install .

FROM python:3.11-slim AS runtime
ENV PATH=/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 DJANGO_SETTINGS_MODULE=humphrey.settings PORT=8000
RUN useradd --system --uid 10001 --home /app humphrey
WORKDIR /app
COPY --from=build /venv /venv
COPY --chown=humphrey . .
COPY --from=assets --chown=humphrey /src/static/vendor static/vendor
# collectstatic needs settings but no database or real secret.
RUN DJANGO_SECRET_KEY=build-only DATABASE_URL=postgres://build@localhost/build \
    python manage.py collectstatic --noinput -v0
# The volumes' mount points, owned by the app's user: an empty named volume takes this ownership.
RUN mkdir -p /data/media /data/audit-anchor && chown -R humphrey /data
USER humphrey
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD python -c "import os,urllib.request,sys; sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/healthz', timeout=4).status == 200 else 1)"
ENTRYPOINT ["/app/docker-entrypoint.sh"]
CMD ["web"]
