"""Append-only that holds against the app's own database login.

Before this migration, the audit tables were guarded by pgtrigger ``Protect`` triggers, which step
aside for any session that sets ``pgtrigger.ignore``, and by TRUNCATE triggers that stepped aside
for any session that set ``humphrey.audit_truncate``. Anyone holding the app's database login
could set either. Now:

- ``audit_guard()`` (row triggers on events, content and legal holds) refuses UPDATE and DELETE
  whatever the session has set. The one DELETE it allows is of content, inside
  ``audit_purge_content`` (the flag ``humphrey.audit_purge`` set *and* the current user being the
  function's owner, which is only so inside that SECURITY DEFINER function or for the owner
  itself, who could drop the triggers anyway). A legal hold may be updated only to release an
  active hold, and the release time is the database's own clock.
- ``audit_refuse_truncate()`` lets TRUNCATE through only for the tables' owner in a database
  whose *database-level* default (``ALTER DATABASE ... SET humphrey.audit_truncate = 'allow'``,
  which only the database's owner or a superuser may run) says so: the test suite's throwaway
  database. A session's own ``SET`` counts for nothing.
- ``audit_purge_content(cutoff)`` deletes the content of events older than ``cutoff``, except
  events under an active legal hold, and refuses a cutoff newer than ``now()`` minus the days in
  ``audit_retention_floor``. That table is written by this migration and by every later
  ``migrate`` (``audit.apps``) from ``HUMPHREY_RETENTION_DAYS``; the runtime role gets no
  privilege on it (``manage.py audit_db_roles``).

The triggers and function are plain SQL, not pgtrigger triggers (which all obey
``pgtrigger.ignore``); a ``pgtrigger_*`` name is avoided so ``pgtrigger prune`` leaves them alone.
"""

import importlib

import pgtrigger.migrations
from django.conf import settings
from django.db import migrations

GUARDED = {
    "audit_auditevent": "audit_event_guard",
    "audit_auditcontent": "audit_content_guard",
    "audit_legalhold": "legal_hold_guard",
}


def _sql(schema: str) -> str:
    s = f'"{schema}"'
    purge = f"{s}.audit_purge_content(timestamptz)"
    return f"""
CREATE TABLE IF NOT EXISTS {s}.audit_retention_floor (
    id smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    days integer NOT NULL CHECK (days >= 1),
    updated_at timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON {s}.audit_retention_floor FROM PUBLIC;

CREATE OR REPLACE FUNCTION {s}.audit_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        -- Nested IFs: PL/pgSQL does not promise to stop at the first false condition of an AND.
        IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'audit_auditcontent' THEN
            IF current_setting('humphrey.audit_purge', true) = 'on'
               AND current_user = (SELECT pg_get_userbyid(p.proowner) FROM pg_proc p
                                   WHERE p.oid = to_regprocedure('{purge}')) THEN
                RETURN OLD;
            END IF;
        ELSIF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'audit_legalhold' THEN
            IF OLD.released_at IS NULL AND NEW.released_at IS NOT NULL
               AND NEW.id = OLD.id
               AND NEW.user_id IS NOT DISTINCT FROM OLD.user_id
               AND NEW.conversation_id IS NOT DISTINCT FROM OLD.conversation_id
               AND NEW.reason = OLD.reason
               AND NEW.created_by_id IS NOT DISTINCT FROM OLD.created_by_id
               AND NEW.created_by_label = OLD.created_by_label
               AND NEW.created_at = OLD.created_at THEN
                NEW.released_at := clock_timestamp();  -- a release cannot be backdated to let an earlier purge through
                RETURN NEW;
            END IF;
        END IF;
        RAISE EXCEPTION 'audit: Cannot % % rows: the audit log is append-only', lower(TG_OP), TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END;
$$;

CREATE OR REPLACE FUNCTION {s}.audit_refuse_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF current_user = (SELECT pg_get_userbyid(c.relowner) FROM pg_class c WHERE c.oid = TG_RELID) THEN
            IF EXISTS (
                SELECT 1 FROM pg_db_role_setting r JOIN pg_database d ON d.oid = r.setdatabase
                WHERE d.datname = current_database() AND r.setrole = 0
                  AND 'humphrey.audit_truncate=allow' = ANY (r.setconfig)
            ) THEN
                RETURN NULL;
            END IF;
        END IF;
        RAISE EXCEPTION 'audit: Cannot truncate % table: the audit log is append-only', TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END;
$$;

CREATE OR REPLACE FUNCTION {purge.replace("(timestamptz)", "(cutoff timestamptz)")} RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    DECLARE
        floor_days integer;
        purged bigint;
    BEGIN
        SELECT f.days INTO floor_days FROM {s}.audit_retention_floor f WHERE f.id = 1;
        IF floor_days IS NULL THEN
            RAISE EXCEPTION 'audit: purge refused: no retention period is recorded (run migrate)'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF cutoff IS NULL OR cutoff > now() - make_interval(days => floor_days) THEN
            RAISE EXCEPTION 'audit: purge refused: cutoff % is newer than the retention period allows (% days)',
                cutoff, floor_days USING ERRCODE = 'insufficient_privilege';
        END IF;
        PERFORM set_config('humphrey.audit_purge', 'on', true);
        DELETE FROM {s}.audit_auditcontent c
        USING {s}.audit_auditevent e
        WHERE c.event_id = e.id AND e.created_at < cutoff
          AND NOT EXISTS (
              SELECT 1 FROM {s}.audit_legalhold h
              WHERE h.released_at IS NULL AND (
                  (h.user_id IS NOT NULL AND (e.actor_id = h.user_id OR e.subject = 'user:' || h.user_id))
                  OR (h.conversation_id IS NOT NULL AND (
                      e.subject = 'conversation:' || h.conversation_id
                      OR e.data -> 'conversation_id' = to_jsonb(h.conversation_id)))
              )
          );
        GET DIAGNOSTICS purged = ROW_COUNT;
        PERFORM set_config('humphrey.audit_purge', '', true);
        RETURN purged;
    END;
$$;
REVOKE ALL ON FUNCTION {purge} FROM PUBLIC;
""" + "".join(
        f"""
DROP TRIGGER IF EXISTS {trigger} ON {s}.{table};
CREATE TRIGGER {trigger} BEFORE UPDATE OR DELETE ON {s}.{table} FOR EACH ROW EXECUTE FUNCTION {s}.audit_guard();
"""
        for table, trigger in GUARDED.items()
    )


def forward(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        schema = cursor.fetchone()[0]
        cursor.execute(_sql(schema))
        cursor.execute(
            f'INSERT INTO "{schema}".audit_retention_floor (id, days) VALUES (1, %s) '
            "ON CONFLICT (id) DO UPDATE SET days = EXCLUDED.days, updated_at = now()",
            [settings.HUMPHREY_RETENTION_DAYS],
        )


def backward(apps, schema_editor):
    previous = importlib.import_module("audit.migrations.0003_refuse_truncate_on_audit_tables")
    with schema_editor.connection.cursor() as cursor:
        for table, trigger in GUARDED.items():
            cursor.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
        cursor.execute("DROP FUNCTION IF EXISTS audit_purge_content(timestamptz)")
        cursor.execute("DROP FUNCTION IF EXISTS audit_guard()")
        cursor.execute("DROP TABLE IF EXISTS audit_retention_floor")
        cursor.execute(previous.CREATE)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0003_refuse_truncate_on_audit_tables"),
    ]

    operations = [
        migrations.RunPython(forward, backward),
        pgtrigger.migrations.RemoveTrigger(model_name="auditcontent", name="audit_content_no_update"),
        pgtrigger.migrations.RemoveTrigger(model_name="auditcontent", name="audit_content_no_delete"),
        pgtrigger.migrations.RemoveTrigger(model_name="auditevent", name="audit_event_append_only"),
        pgtrigger.migrations.RemoveTrigger(model_name="legalhold", name="legal_hold_no_delete"),
    ]
