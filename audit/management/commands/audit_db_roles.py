"""Create (or bring up to date) the database role the site runs as, with only the grants it needs.

Run it as the migrating role (the owner of the schema), after every ``migrate``:

    DATABASE_URL=$DATABASE_MIGRATION_URL python manage.py audit_db_roles --role humphrey_app \\
        --password-env HUMPHREY_APP_DB_PASSWORD

The runtime role gets ordinary DML on the site's tables, but on the audit tables only what writing
and reading the trail needs: SELECT and INSERT on events and content (no UPDATE, DELETE or
TRUNCATE), SELECT, INSERT and UPDATE on legal holds (releasing one is an update the database
restricts further), nothing on the retention floor, and EXECUTE on ``audit_purge_content``. It is
never a superuser, never the owner, and cannot create roles or databases. ``--print`` shows the SQL
for a DBA to run instead.
"""

from __future__ import annotations

import os

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from psycopg import sql

APPEND_ONLY = ("audit_auditevent", "audit_auditcontent")
RELEASE_ONLY = ("audit_legalhold",)
NO_ACCESS = ("audit_retention_floor",)
READ_ONLY = ("django_migrations",)
PURGE_FUNCTION = "audit_purge_content(timestamptz)"


def runtime_role_sql(role: str, *, database: str, schema: str, password: str | None) -> list[sql.Composable]:
    """The statements that make ``role`` the site's runtime role, in order."""
    r, s = sql.Identifier(role), sql.Identifier(schema)

    def tables(names) -> sql.Composable:
        return sql.SQL(", ").join(sql.SQL("{}.{}").format(s, sql.Identifier(n)) for n in names)

    statements = [
        sql.SQL(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {name}) "
            "THEN CREATE ROLE {role} LOGIN; END IF; END $$"
        ).format(name=sql.Literal(role), role=r),
        sql.SQL("ALTER ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS").format(r),
    ]
    if password is not None:
        statements.append(sql.SQL("ALTER ROLE {} PASSWORD {}").format(r, sql.Literal(password)))
    statements += [
        sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(sql.Identifier(database), r),
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(s, r),
        sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {} TO {}").format(s, r),
        sql.SQL("GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {} TO {}").format(s, r),
        # Tables later migrations create (as the role running this) are usable at once; this
        # command, run after every migrate, narrows the audit ones again below.
        sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {}").format(
            s, r
        ),
        sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {}").format(s, r),
        sql.SQL("REVOKE ALL ON {} FROM {}").format(tables(APPEND_ONLY + RELEASE_ONLY + NO_ACCESS + READ_ONLY), r),
        sql.SQL("GRANT SELECT, INSERT ON {} TO {}").format(tables(APPEND_ONLY), r),
        sql.SQL("GRANT SELECT, INSERT, UPDATE ON {} TO {}").format(tables(RELEASE_ONLY), r),
        sql.SQL("GRANT SELECT ON {} TO {}").format(tables(READ_ONLY), r),
        sql.SQL("GRANT EXECUTE ON FUNCTION {}.{} TO {}").format(s, sql.SQL(PURGE_FUNCTION), r),
    ]
    return statements


class Command(BaseCommand):
    help = (
        "Create or update the site's runtime database role: DML on the site's tables, SELECT/INSERT only on "
        "audit events and content, EXECUTE on the purge function. Run as the migrating role after migrate."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--role", required=True, help="the runtime role's name, e.g. humphrey_app")
        parser.add_argument(
            "--password-env", metavar="VAR", help="environment variable holding the role's password (to set it)"
        )
        parser.add_argument("--print", action="store_true", help="print the SQL (password hidden); change nothing")

    def handle(self, *args, **options) -> None:
        role = options["role"]
        password = None
        if options["password_env"]:
            password = os.environ.get(options["password_env"], "")
            if not password:
                raise CommandError(f"{options['password_env']} is empty: the runtime role needs a password.")
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user, current_schema(), current_database()")
            current, schema, database = cursor.fetchone()
        if role == current:
            raise CommandError(
                f"{role} is the role running this command (the owner): the runtime role must be another one."
            )
        statements = runtime_role_sql(
            role, database=database, schema=schema, password=None if options["print"] else password
        )
        if options["print"]:
            if password is not None:
                self.stdout.write(f"ALTER ROLE {role} PASSWORD '…';")
            for statement in statements:
                self.stdout.write(statement.as_string(connection.connection) + ";")
            return
        with transaction.atomic(), connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement.as_string(connection.connection))
            cursor.execute("SELECT rolsuper OR rolcreaterole OR rolbypassrls FROM pg_roles WHERE rolname = %s", [role])
            if cursor.fetchone()[0]:
                raise CommandError(f"{role} is still a superuser or may create roles: refusing to leave it so.")
        self.stdout.write(f"Runtime role {role}: grants in place on {database}.{schema}.")
