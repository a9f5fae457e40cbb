#!/usr/bin/env bash
# Local stand-ins for the registry images the Dockerfile and compose.yaml use, made from Debian
# packages alone (for a build host that reaches no container registry):
#
#   python:3.11-slim       Debian bookworm's Python 3.11 (+ venv, pip) at /usr/bin, `python` linked, and
#                          tesseract-ocr + tesseract-ocr-eng (OCR of scanned PDFs; docs/ocr.md)
#   redis:7-alpine         Debian bookworm's redis-server 7.0 (entrypoint as the official image's)
#   caddy:2                Debian bookworm's caddy 2.6 (config, data and command as the official image's)
#   pgvector/pgvector:pg16 Debian trixie's PostgreSQL 17 + pgvector 0.8 (entrypoint: POSTGRES_USER,
#                          POSTGRES_PASSWORD, POSTGRES_DB, initdb on an empty PGDATA)
#
# Each base is a `debootstrap --variant=minbase` root file system, `docker import`ed; the others are
# small Dockerfiles under deploy/offline/images/ that apt-get install from Debian's archive. Needs
# root, debootstrap and a running Docker engine (DOCKER_HOST is honoured). Images that already exist
# are kept (FORCE=1 rebuilds). DEBIAN_MIRROR names a mirror (default deb.debian.org).
#
# node:20-slim is not made: offline, the Dockerfile takes the front-end assets from the wheelhouse
# (make wheelhouse) and its asset stage runs on NODE_IMAGE=python:3.11-slim (make deploy-test passes it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
force=${FORCE:-0}
work=$(mktemp -d "${TMPDIR:-/tmp}/humphrey-stand-ins.XXXXXX")
trap 'rm -rf "$work"' EXIT

have() { [ "$force" != 1 ] && docker image inspect "$1" >/dev/null 2>&1; }

# base SUITE TAG: a minimal Debian root file system as an image.
base() {
  local suite=$1 tag=$2 root="$work/$1"
  if have "$tag"; then echo "stand-ins: $tag exists"; return; fi
  echo "stand-ins: debootstrap $suite -> $tag"
  debootstrap --variant=minbase --include=ca-certificates "$suite" "$root" "$mirror" >"$work/$suite.log" 2>&1 \
    || { tail -20 "$work/$suite.log"; exit 1; }
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
  # As the official Debian images: no recommends, no docs beyond copyrights.
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$root/etc/apt/apt.conf.d/90stand-in"
  tar --numeric-owner -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["bash"]' - "$tag" >/dev/null
  rm -rf "$root"
}

# image NAME TAG BASE: deploy/offline/images/NAME/Dockerfile on BASE.
image() {
  local name=$1 tag=$2 from=$3
  if have "$tag"; then echo "stand-ins: $tag exists"; return; fi
  echo "stand-ins: building $tag"
  DOCKER_BUILDKIT=0 docker build -q --network "${STAND_IN_BUILD_NETWORK:-default}" --build-arg BASE="$from" \
    -t "$tag" "$here/images/$name" >/dev/null
}

# The two debootstraps are most of the time and mostly waiting on the network: run them together.
base bookworm humphrey-stand-in/debian:bookworm &
b1=$!
base trixie humphrey-stand-in/debian:trixie &
b2=$!
wait $b1
wait $b2
# A python stand-in made before it carried Tesseract (its label says) is made again: offline, the
# Dockerfile cannot apt-get it.
if have python:3.11-slim && [ "$(docker image inspect -f '{{index .Config.Labels "org.humphrey.stand-in.ocr"}}' \
  python:3.11-slim 2>/dev/null)" != tesseract ]; then
  echo "stand-ins: python:3.11-slim has no Tesseract: making it again"
  force=1 image python python:3.11-slim humphrey-stand-in/debian:bookworm
else
  image python python:3.11-slim humphrey-stand-in/debian:bookworm
fi
image redis redis:7-alpine humphrey-stand-in/debian:bookworm
image caddy caddy:2 humphrey-stand-in/debian:bookworm
image postgres pgvector/pgvector:pg16 humphrey-stand-in/debian:trixie
docker image ls --format '{{.Repository}}:{{.Tag}}\t{{.Size}}' \
  | grep -E '^(python:3.11-slim|redis:7-alpine|caddy:2|pgvector/pgvector:pg16|humphrey-stand-in/)' || true
