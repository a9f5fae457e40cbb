#!/bin/sh
# web: migrate (idempotent; safe with several replicas thanks to Django's migration lock) then serve.
# worker: run queued ingestion tasks.
set -e
case "${1:-web}" in
  web)
    python manage.py migrate --noinput
    # No --proxy-headers: Daphne would take the left-most X-Forwarded-For, which the client writes.
    # The client's address comes from HUMPHREY_TRUSTED_PROXIES (humphrey/proxies.py).
    # Daphne's own access log prints whole URLs (search text, emails): the site logs requests itself.
    exec daphne -b 0.0.0.0 -p "${PORT:-8000}" --access-log /dev/null humphrey.asgi:application ;;
  worker)
    exec python manage.py db_worker --queue-name "*" ;;
  *)
    exec "$@" ;;
esac
