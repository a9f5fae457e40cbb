#!/bin/sh
# web: migrate (idempotent; safe with several replicas thanks to Django's migration lock) then serve.
# worker: run queued ingestion tasks.
set -e
case "${1:-web}" in
  web)
    python manage.py migrate --noinput
    exec daphne -b 0.0.0.0 -p "${PORT:-8000}" --proxy-headers humphrey.asgi:application ;;
  worker)
    exec python manage.py db_worker --queue-name "*" ;;
  *)
    exec "$@" ;;
esac
