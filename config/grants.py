"""What the running app's database login may do; granted after every migrate and flush.

The migrations run as the owner of the tables. The running app (web, Celery
worker and beat) logs in as another role, DATABASE_APP_ROLE, which owns nothing:
it cannot ALTER a table (so it cannot disable the append-only triggers), and on
the append-only tables it may only read and insert. See docs/architecture.md,
"Who can rewrite the audit trail".
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connections

# Tables whose rows PostgreSQL refuses to UPDATE or DELETE (a trigger each:
# decisions/0003_append_only_decisions, policies/0002_append_only_events_and_switch,
# retention/0002_append_only_logs_and_prune_functions). The logs retention prunes
# (API calls, personal-data reveals and searches) lose rows only through their
# owner's functions, past a floor (docs/architecture.md, "Retention").
APPEND_ONLY_TABLES = (
    "decisions_limitdecision",
    "decisions_decisionlink",
    "policies_policyevent",
    "retention_retentionprune",
    "api_apicall",
    "accounts_personaldatareveal",
    "accounts_personaldatasearch",
)

# Whether anything is left to grant or revoke, on the objects the current user owns
# in the current schema: one catalog read, so a flush between tests stays cheap.
_PENDING_SQL = """
SELECT EXISTS (
    SELECT 1
    FROM pg_class AS c
    WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
      AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
      AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
      AND CASE
          WHEN c.relkind = 'S' THEN
              NOT (has_sequence_privilege(%(role)s, c.oid, 'USAGE')
                   AND has_sequence_privilege(%(role)s, c.oid, 'SELECT'))
          WHEN c.relname = ANY(%(append_only)s) OR EXISTS (
              SELECT 1 FROM pg_inherits AS i JOIN pg_class AS parent ON parent.oid = i.inhparent
              WHERE i.inhrelid = c.oid AND parent.relname = ANY(%(append_only)s)
          ) THEN
              NOT (has_table_privilege(%(role)s, c.oid, 'SELECT')
                   AND has_table_privilege(%(role)s, c.oid, 'INSERT'))
              OR has_table_privilege(%(role)s, c.oid, 'UPDATE')
              OR has_table_privilege(%(role)s, c.oid, 'DELETE')
              OR has_table_privilege(%(role)s, c.oid, 'TRUNCATE')
          ELSE
              NOT (has_table_privilege(%(role)s, c.oid, 'SELECT')
                   AND has_table_privilege(%(role)s, c.oid, 'INSERT')
                   AND has_table_privilege(%(role)s, c.oid, 'UPDATE')
                   AND has_table_privilege(%(role)s, c.oid, 'DELETE'))
          END
)
"""


def app_role_grant(*, using: str = "default", role: str | None = None) -> bool:
    """Give the app's role what it may do on every table and sequence of the schema,
    and take UPDATE, DELETE and TRUNCATE on the append-only tables away from it.

    Idempotent. Does nothing (False) when the role does not exist, is the current
    user itself (one login for both), or already has exactly these rights.
    """
    role = settings.DATABASE_APP_ROLE if role is None else role
    if not role:
        return False
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_roles WHERE rolname = %s AND rolname <> current_user", [role]
        )
        if cursor.fetchone() is None:
            return False
        cursor.execute(_PENDING_SQL, {"role": role, "append_only": list(APPEND_ONLY_TABLES)})
        if not cursor.fetchone()[0]:
            return False
        quote = connection.ops.quote_name
        grantee = quote(role)
        cursor.execute("SELECT current_schema()")
        schema = quote(cursor.fetchone()[0])
        cursor.execute(f"GRANT USAGE ON SCHEMA {schema} TO {grantee}")
        cursor.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {grantee}"
        )
        cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {grantee}")
        # The append-only tables and their partitions (decisions by month): a partition
        # reached directly must not be emptied either.
        cursor.execute(
            "SELECT c.relname FROM pg_class AS c "
            "JOIN pg_namespace AS n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') "
            "AND (c.relname = ANY(%s) OR EXISTS ("
            "    SELECT 1 FROM pg_inherits AS i JOIN pg_class AS parent "
            "    ON parent.oid = i.inhparent "
            "    WHERE i.inhrelid = c.oid AND parent.relname = ANY(%s)))",
            [list(APPEND_ONLY_TABLES), list(APPEND_ONLY_TABLES)],
        )
        tables = ", ".join(quote(name) for (name,) in cursor.fetchall())
        if tables:
            cursor.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {tables} FROM {grantee}")
    return True


def grant_after_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    """post_migrate receiver (connected once, for the decisions app)."""
    app_role_grant(using=using)
