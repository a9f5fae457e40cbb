#!/usr/bin/env bash
# make deploy-test: the compose stack built and run as a department would, checked end to end,
# then torn down. With no Docker engine running, a private one is started with everything under a
# temporary folder (data-root, exec-root, socket, pidfile), no bridge of its own and no iptables rules,
# and removed at the end. Base images that cannot be pulled are made by stand-ins.sh; the image is built
# once, offline, from the wheelhouse (make wheelhouse). Checks, through Caddy over HTTPS (its internal
# CA pinned): /healthz from both web processes, a signed-in chat answer over wss:// with citations,
# the sample documents ingested by the worker, verify_audit, and the chat answered with web1 killed.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
py=${PY:-.venv/bin/python}
wheelhouse=${WHEELHOUSE:-deploy/offline/wheelhouse}
t0=$(date +%s)
log() { printf '[deploy-test %4ss] %s\n' "$(($(date +%s) - t0))" "$*"; }
work=$(mktemp -d "${TMPDIR:-/tmp}/humphrey-deploy-test.XXXXXX")
engine_pid=""
project=humphrey-deploy-test
image=humphrey:deploy-test
compose() { docker compose -p "$project" -f "$root/compose.yaml" --env-file "$work/env" "$@"; }

cleanup() {
  local rc=$?
  set +e
  if [ -f "$work/env" ] && docker info >/dev/null 2>&1; then
    if [ $rc -ne 0 ]; then
      log "failed: the last lines of each service's log"
      compose logs --no-color --tail 40 2>&1 | tail -200
    fi
    compose down -v --remove-orphans --timeout 5 >/dev/null 2>&1
    [ -z "$engine_pid" ] && docker image rm -f "$image" >/dev/null 2>&1
  fi
  if [ -n "$engine_pid" ]; then
    kill "$engine_pid" 2>/dev/null
    for _ in $(seq 60); do kill -0 "$engine_pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$engine_pid" 2>/dev/null
    # Anything the engine left mounted under its folders (it unmounts its own on a clean stop).
    grep -o " $work/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
  fi
  rm -rf "$work"
  log "torn down (exit $rc)"
}
trap cleanup EXIT

# --- the engine -------------------------------------------------------------------------------------
if docker info >/dev/null 2>&1; then
  log "using the running Docker engine (${DOCKER_HOST:-default socket})"
else
  log "starting a private Docker engine under $work"
  mkdir -p "$work/data" "$work/exec"
  dockerd --data-root "$work/data" --exec-root "$work/exec" --pidfile "$work/dockerd.pid" \
    -H "unix://$work/docker.sock" --storage-driver overlay2 \
    --bridge none --iptables=false --ip-forward=false --ip-masq=false \
    --containerd-namespace humphrey-deploy-test --containerd-plugins-namespace humphrey-deploy-test-plugins \
    >"$work/dockerd.log" 2>&1 &
  engine_pid=$!
  export DOCKER_HOST="unix://$work/docker.sock"
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { tail -20 "$work/dockerd.log"; exit 1; }
fi

# --- base images ------------------------------------------------------------------------------------
missing=0
for base in python:3.11-slim redis:7-alpine caddy:2 pgvector/pgvector:pg16; do
  docker image inspect "$base" >/dev/null 2>&1 && continue
  timeout 30 docker pull -q "$base" >/dev/null 2>&1 || missing=1
done
# The image is built with no network, so its base must already carry Tesseract (the python stand-in
# does, and says so in a label); a pulled python:3.11-slim does not, so the stand-in is made instead.
if [ "$(docker image inspect -f '{{index .Config.Labels "org.humphrey.stand-in.ocr"}}' python:3.11-slim 2>/dev/null)" != tesseract ]; then
  missing=1
fi
if [ $missing = 1 ]; then
  log "base images cannot be pulled: making stand-ins from Debian packages"
  # The stand-ins' Dockerfiles run apt-get: the private engine has no bridge, so they build on the host's network.
  STAND_IN_BUILD_NETWORK=host deploy/offline/stand-ins.sh
fi

# --- the image, built once, offline -------------------------------------------------------------------
log "building $image from $wheelhouse (no network)"
DOCKER_BUILDKIT=0 docker build -q --network none --build-arg WHEELHOUSE="$wheelhouse" \
  --build-arg NODE_IMAGE=python:3.11-slim -t "$image" . >/dev/null
log "built: $(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}')"

# --- the stack ----------------------------------------------------------------------------------------
secret() { "$py" -c 'import secrets; print(secrets.token_urlsafe(32))'; }
port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
http_port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export SMOKE_PASSWORD
SMOKE_PASSWORD=$(secret)
cat >"$work/env" <<ENV
DJANGO_SECRET_KEY=$(secret)
POSTGRES_PASSWORD=$(secret)
HUMPHREY_APP_DB_PASSWORD=$(secret)
HUMPHREY_AUDIT_ANCHOR_KEY=$(secret)
HUMPHREY_HOSTNAME=humphrey.localhost
HUMPHREY_ENV_FILE=$work/env
HUMPHREY_IMAGE=$image
HUMPHREY_PROXY_BIND=127.0.0.1
HUMPHREY_HTTPS_PORT=$port
HUMPHREY_HTTP_PORT=$http_port
ENV
log "compose up (project $project, https://humphrey.localhost:$port)"
compose up -d --no-build --quiet-pull 2>&1 | grep -vE '^\s*$' | tail -3 || true
migrate_rc=$(docker wait "$(compose ps -aq migrate)")
[ "$migrate_rc" = 0 ] || { compose logs migrate | tail -30; exit 1; }
log "migrate service exited 0 (migrations as the owner, then audit_db_roles for humphrey_app)"
for web in web1 web2; do
  for i in $(seq 120); do
    if compose exec -T "$web" python -c "
import urllib.request as u, sys
r = u.urlopen(u.Request('http://127.0.0.1:8000/healthz', headers={'Host': 'humphrey.localhost'}), timeout=5)
sys.exit(0 if r.status == 200 else 1)" >/dev/null 2>&1; then break; fi
    [ "$i" = 120 ] && { log "$web never answered /healthz"; exit 1; }
    sleep 1
  done
  log "$web: /healthz 200"
done

compose cp proxy:/data/caddy/pki/authorities/local/root.crt "$work/caddy-root.crt" >/dev/null 2>&1 || true
for _ in $(seq 60); do
  [ -s "$work/caddy-root.crt" ] && "$py" deploy/offline/smoke.py health --port "$port" --ca "$work/caddy-root.crt" \
    --tries 1 >/dev/null 2>&1 && break
  sleep 1
  compose cp proxy:/data/caddy/pki/authorities/local/root.crt "$work/caddy-root.crt" >/dev/null 2>&1 || true
done
smoke() { "$py" deploy/offline/smoke.py "$@" --port "$port" --ca "$work/caddy-root.crt"; }
smoke health --tries 8

# --- documents ingested by the worker -----------------------------------------------------------------
printf '%s\n' "$SMOKE_PASSWORD" | compose exec -T web1 python manage.py create_user smoke@example.gov.uk \
  --name "Smoke Test" --password-stdin >/dev/null
compose exec -T web1 python manage.py shell -c "
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
get_user_model().objects.get(email='smoke@example.gov.uk').groups.add(Group.objects.get_or_create(name='All staff')[0])"
compose exec -T web1 python manage.py load_sample --queue
for i in $(seq 300); do
  queue=$(compose exec -T web1 python manage.py ingestion_queue 2>&1)
  case "$queue" in *"Nothing queued, running or failed."*) break ;; esac
  case "$queue" in *failed*) echo "$queue"; exit 1 ;; esac
  [ "$i" = 300 ] && { echo "$queue"; exit 1; }
  sleep 1
done
ready=$(compose exec -T web1 python manage.py shell -c "
from documents.models import DocumentVersion
print(DocumentVersion.objects.filter(status='ready').count())" | tail -1)
[ "${ready:-0}" -gt 0 ] || { log "no document version ready"; exit 1; }
log "worker ingested the sample collection: $ready versions ready"
compose exec -T worker python manage.py shell -v0 < deploy/offline/ocr_check.py | tail -1

# --- chat, audit, a web process killed -------------------------------------------------------------------
smoke chat --email smoke@example.gov.uk
compose exec -T web1 python manage.py verify_audit | tail -3
log "verify_audit passed"
# Both web processes sign audit exports with one key, made on first use in the shared volume.
export_key1=$(compose exec -T web1 python manage.py audit_export_key 2>/dev/null)
export_key2=$(compose exec -T web2 python manage.py audit_export_key 2>/dev/null)
case "$export_key1" in *"BEGIN PUBLIC KEY"*) ;; *) log "no audit export key: $export_key1"; exit 1 ;; esac
[ "$export_key1" = "$export_key2" ] || { log "web1 and web2 sign audit exports with different keys"; exit 1; }
log "one audit export key for both web processes"
compose kill -s KILL web1 >/dev/null 2>&1
log "web1 killed"
smoke health --tries 4
# The sign-in form is a POST, which the proxy never retries on the other process; as for a user, it
# is routed away from web1 once the proxy's probe (every 2 s, 2 s timeout: deploy/Caddyfile) has
# found web1 gone, so give the probe that long.
sleep 5
smoke chat --email smoke@example.gov.uk --question "How many days of annual leave do I get?"
compose exec -T web2 python manage.py verify_audit | tail -1
log "all checks passed in $(($(date +%s) - t0)) s"
