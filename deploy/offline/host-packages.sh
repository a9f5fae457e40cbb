#!/usr/bin/env bash
# The Debian packages make stand-ins / make deploy-test need on the build host, installed if missing
# (idempotent; needs root): docker.io (the engine; the client may be any recent docker), debootstrap,
# iptables, and Compose v2 from Debian trixie (bookworm's docker-compose is v1, which rejects `name:`).
# trixie is added as a source pinned at priority 100 and only docker-compose is taken from it, so
# nothing else on the host is upgraded.
set -euo pipefail
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v iptables >/dev/null || need+=(iptables)
compose_v2() { docker compose version 2>/dev/null | grep -q 'version v\?2'; }
if [ ${#need[@]} -eq 0 ] && compose_v2; then exit 0; fi
[ "$(id -u)" = 0 ] || { echo "host-packages: installing ${need[*]:-} docker-compose needs root" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
if ! compose_v2; then
  cat >/etc/apt/sources.list.d/humphrey-trixie.sources <<'SRC'
# Added by Humphrey's deploy/offline/host-packages.sh for Compose v2 (docker-compose) only.
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  cat >/etc/apt/preferences.d/humphrey-trixie <<'PIN'
# Nothing is taken from trixie unless asked for by name (docker-compose/trixie).
Package: *
Pin: release n=trixie
Pin-Priority: 100
PIN
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
if ! compose_v2; then
  apt-get install -y -qq --no-install-recommends docker-compose/trixie >/dev/null
fi
compose_v2 || { echo "host-packages: docker compose v2 is still missing" >&2; exit 1; }
echo "host-packages: $(dockerd --version); $(docker compose version)"
