#!/bin/sh
# As the official image: started without a configuration file, Redis listens on every interface of
# the container with protected mode off (the container's network is the protection).
set -e
if [ "${1#-}" != "$1" ]; then set -- redis-server "$@"; fi
if [ "$1" = redis-server ]; then
  case "${2:-}" in *.conf) ;; *) shift; set -- redis-server --protected-mode no "$@" ;; esac
fi
exec "$@"
