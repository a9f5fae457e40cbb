# Humphrey: two commands.
#   make run   set up (idempotently) and serve on http://127.0.0.1:$(PORT) with a task worker
#   make test  set up (idempotently) and run the whole suite
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
STAMP_PY := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
STAMP_JS := node_modules/.installed-$(shell cat package.json package-lock.json | sha1sum | cut -c1-12)
ASSETS := static/vendor/.built-$(shell cat package-lock.json static/scss/*.scss | sha1sum | cut -c1-12)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help run test setup lint format migrations-check check-deploy collectstatic browser ocr bench clean-data

help:
	@echo "make run    - set up and serve Humphrey on http://127.0.0.1:$(PORT) (demo accounts printed)"
	@echo "make test   - set up and run the whole test suite"
	@echo "make manage ARGS=\"ingest docs/ --collection x\" - a manage.py command against the local site"
	@echo "make lint   - ruff format check and lint"
	@echo "make bench  - run the benchmarks (JSON figures)"

$(STAMP_PY): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed ($(PYTHON) not found)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The CPU build of torch first: an unpinned torch would pull a multi-GB CUDA build.
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[dev]"
	rm -f $(VENV)/.installed-* && touch $@

$(STAMP_JS): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	rm -f node_modules/.installed-* && touch $@

$(ASSETS): $(STAMP_JS) static/scss/humphrey.scss
	rm -rf static/vendor && mkdir -p static/vendor/govuk static/vendor/css
	cp -r node_modules/govuk-frontend/dist/govuk/assets static/vendor/govuk/assets
	cp node_modules/govuk-frontend/dist/govuk/govuk-frontend.min.js static/vendor/govuk/
	npx sass --quiet --style=compressed --no-source-map \
	  --load-path=node_modules/govuk-frontend/dist static/scss/humphrey.scss static/vendor/css/humphrey.css
	touch $@

setup: $(STAMP_PY) $(ASSETS)

/usr/bin/chromium:
	# Browser tests drive Debian's Chromium (Playwright's own download cannot run here).
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null

browser: /usr/bin/chromium

/usr/bin/tesseract:
	# Scanned PDF pages are read by Tesseract (docs/ocr.md); English is the default language.
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tesseract-ocr tesseract-ocr-eng >/dev/null

ocr: /usr/bin/tesseract

collectstatic: setup
	DJANGO_SECRET_KEY=collectstatic-only $(PY) manage.py collectstatic --noinput -v0

run: setup ocr
	DJANGO_DEBUG=1 $(PY) manage.py migrate --noinput -v0
	DJANGO_DEBUG=1 PORT=$(PORT) $(PY) -m humphrey.devserver

# A command against the local site `make run` serves: development mode, the same data folder.
#   make manage ARGS="ingest docs/ --collection x --create"
.PHONY: manage
manage: setup
	DJANGO_DEBUG=1 $(PY) manage.py $(ARGS)

lint: setup
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

migrations-check: setup
	DJANGO_DEBUG=1 $(PY) manage.py makemigrations --check --dry-run

# What ships is checked, whatever the shell holds: every DJANGO_*, HUMPHREY_*, model and database
# setting is dropped (DJANGO_DEBUG=1 left exported would check development mode), then only a
# throwaway key and a host name are given.
check-deploy: setup
	env $$(env | sed -n 's/^\(\(DJANGO\|HUMPHREY\|OPENAI\|AZURE_OPENAI\)_[A-Za-z0-9_]*\|DATABASE_URL\|REDIS_URL\)=.*/-u \1/p') \
	  DJANGO_SECRET_KEY=$$(openssl rand -base64 48) DJANGO_ALLOWED_HOSTS=humphrey.example.gov.uk \
	  $(PY) manage.py check --deploy --fail-level WARNING

# --create-db: a fresh test database each run (planner statistics left by an earlier run change
# which words retrieval treats as common); quicker reruns: .venv/bin/pytest (it reuses the database).
# --durations: the slowest tests in every CI log, so a suite grown slow shows where.
# -n: one pytest-xdist worker per core, each with its own test database (test_humphrey_gw0, ...); servers,
# browsers and Redis instances a test starts take free ports. TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= auto
test: setup browser ocr lint migrations-check check-deploy collectstatic
	$(VENV)/bin/pytest -q --create-db --durations=20 -n $(TEST_WORKERS) $(PYTEST_ARGS)

bench: setup
	$(PY) bench/run_all.py

# --- Offline image builds and the compose smoke test (docs/deploy.md) -------------------------------
WHEELHOUSE ?= deploy/offline/wheelhouse
.PHONY: lock wheelhouse stand-ins deploy-test

# requirements.lock: the image's dependencies pinned to .venv's versions, with hashes.
lock: $(STAMP_PY)
	$(PY) deploy/offline/lock.py

# The wheels of requirements.lock (torch's CPU wheel included) and the built front-end assets, in one
# folder, for `docker build --build-arg WHEELHOUSE=$(WHEELHOUSE)` with no network.
wheelhouse: setup
	PY=$(PY) deploy/offline/wheelhouse.sh $(WHEELHOUSE)

# Local stand-ins for python:3.11-slim, redis:7-alpine, caddy:2 and pgvector/pgvector:pg16, from Debian
# packages (debootstrap + docker import), in the engine DOCKER_HOST names.
stand-ins:
	deploy/offline/host-packages.sh
	deploy/offline/stand-ins.sh

# A private Docker engine, the stand-ins, the image built offline from the wheelhouse, the compose
# stack up, checked through Caddy over HTTPS, and everything torn down again.
deploy-test: wheelhouse
	deploy/offline/host-packages.sh
	deploy/offline/deploy-test.sh
