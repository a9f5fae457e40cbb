"""Refuse TRUNCATE on every audit table.

The pgtrigger ``Protect`` triggers (0001, 0002) are row triggers: they stop UPDATE and DELETE, but
TRUNCATE removes every row without firing them. These ``BEFORE TRUNCATE ... FOR EACH STATEMENT`` triggers
refuse it. They are plain SQL, not pgtrigger triggers: pgtrigger's ``Protect`` is row-level only, and a
``pgtrigger_*`` trigger that no model declares would be dropped by ``pgtrigger prune``. Model state is
unchanged, so ``makemigrations`` has nothing to add.

The one way through is the ``humphrey.audit_truncate`` setting set to ``allow``. It is for throwaway
databases only: Django's test runner empties the database between transactional tests with one
``TRUNCATE`` of every table (``manage.py flush``), so the test suite's database set-up
(``tests/conftest.py``) makes ``allow`` that database's default. Nothing sets it anywhere else.
"""

from django.db import migrations

TABLES = {
    "audit_auditevent": "audit_event_no_truncate",
    "audit_auditcontent": "audit_content_no_truncate",
    "audit_legalhold": "legal_hold_no_truncate",
}
FUNCTION = "audit_refuse_truncate"
SETTING = "humphrey.audit_truncate"

CREATE = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS TRIGGER AS $$
    BEGIN
        IF current_setting('{SETTING}', true) = 'allow' THEN
            RETURN NULL;
        END IF;
        RAISE EXCEPTION 'audit: Cannot truncate % table: the audit log is append-only', TG_TABLE_NAME;
    END;
$$ LANGUAGE plpgsql;
""" + "".join(
    f"""
DROP TRIGGER IF EXISTS {trigger} ON {table};
CREATE TRIGGER {trigger} BEFORE TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}();
"""
    for table, trigger in TABLES.items()
)

DROP = "".join(f"DROP TRIGGER IF EXISTS {trigger} ON {table};\n" for table, trigger in TABLES.items()) + (
    f"DROP FUNCTION IF EXISTS {FUNCTION}();\n"
)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_canonical_text_legal_hold_search_indexes"),
    ]

    operations = [
        migrations.RunSQL(sql=CREATE, reverse_sql=DROP),
    ]
