#!/bin/sh
# web: migrate (idempotent) then serve. Django has no migration lock: two processes migrating one
#      fresh database at once collide (one fails, e.g. DuplicateColumn). So with more than one web
#      process set HUMPHREY_MIGRATE_ON_START=0 and migrate once before they start: compose's one-shot
#      migrate service does, and web and worker wait for it to succeed. The default (1) suits a
#      single process.
# worker: run queued ingestion tasks (and queue the re-embedding an upgrade or model switch needs).
# migrate: migrate, then bring the runtime role's grants up to date (audit_db_roles), and exit.
#
# With DATABASE_MIGRATION_URL set, migrations run as that login (the schema's owner) and the site
# keeps DATABASE_URL (the runtime role, which may not alter the audit trail). Without it, everything
# runs as DATABASE_URL, as a single-login deployment always did (no protection from that login).
set -e
migrate() {
  if [ -n "${DATABASE_MIGRATION_URL:-}" ]; then
    DATABASE_URL="$DATABASE_MIGRATION_URL" python manage.py migrate --noinput
    if [ -n "${HUMPHREY_APP_DB_ROLE:-}" ]; then
      DATABASE_URL="$DATABASE_MIGRATION_URL" python manage.py audit_db_roles --role "$HUMPHREY_APP_DB_ROLE" \
        --password-env HUMPHREY_APP_DB_PASSWORD
    fi
  else
    python manage.py migrate --noinput
  fi
}
case "${1:-web}" in
  migrate)
    migrate ;;
  web)
    if [ "${HUMPHREY_MIGRATE_ON_START:-1}" != "0" ]; then
      migrate
    fi
    # No --proxy-headers: Daphne would take the left-most X-Forwarded-For, which the client writes.
    # The client's address comes from HUMPHREY_TRUSTED_PROXIES (humphrey/proxies.py).
    # Daphne's own access log prints whole URLs (search text, emails): the site logs requests itself.
    exec daphne -b 0.0.0.0 -p "${PORT:-8000}" --access-log /dev/null humphrey.asgi:application ;;
  worker)
    # Each synced source's next run waits in the task queue; one lost with the queue is queued again.
    python manage.py source_sync --schedule
    # After an upgrade or a switch of embedding model, the chunks it left are re-embedded or re-cut.
    python manage.py reembed --queue
    exec python manage.py db_worker --queue-name "*" ;;
  *)
    exec "$@" ;;
esac
