"""The logs retention keeps are append-only; only their owner's narrow functions
remove what is past its floor (docs/architecture.md, "Retention").

- `retention_retentionprune` (what retention removed): a trigger refuses UPDATE and
  DELETE from anyone.
- The API call log and the personal-data reveals and searches: a trigger refuses to
  DELETE a row younger than its floor, from anyone (the owner included), and the
  app's login holds no UPDATE, DELETE or TRUNCATE on them (config/grants.py,
  APPEND_ONLY_TABLES).
- `retention_prune_<table>(days, batch)`, one per such table, runs with its owner's
  rights (SECURITY DEFINER), refuses `days` below the floor, and deletes at most
  `batch` rows older than `days` days, oldest first. The floors are those of
  retention/rules.py: keep them equal.
"""

from django.db import migrations

# table, time column, floor in days (retention.rules), what the rows are
LOGS = (
    ("api_apicall", "at", 183, "API calls"),
    ("accounts_personaldatareveal", "revealed_at", 1096, "personal-data reveals"),
    ("accounts_personaldatasearch", "searched_at", 1096, "personal-data searches"),
)

APPEND_ONLY_LOG = """
CREATE FUNCTION retention_prune_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the retention log is append-only: % refused on row %', TG_OP, OLD.id
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER retention_prune_append_only
BEFORE UPDATE OR DELETE ON retention_retentionprune
FOR EACH ROW EXECUTE FUNCTION retention_prune_append_only();
"""

APPEND_ONLY_LOG_BACK = """
DROP TRIGGER IF EXISTS retention_prune_append_only ON retention_retentionprune;
DROP FUNCTION IF EXISTS retention_prune_append_only();
"""


def guarded(table: str, column: str, floor: int, what: str) -> tuple[str, str]:
    forward = f"""
CREATE FUNCTION {table}_kept() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.{column} >= now() - interval '{floor} days' THEN
        RAISE EXCEPTION '{what} are kept {floor} days: DELETE refused on row %', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN OLD;
END;
$$;

CREATE TRIGGER {table}_kept
BEFORE DELETE ON {table}
FOR EACH ROW EXECUTE FUNCTION {table}_kept();

CREATE FUNCTION retention_prune_{table}(days integer, batch integer) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    removed integer;
BEGIN
    IF days IS NULL OR days < {floor} THEN
        RAISE EXCEPTION '{what} are kept at least {floor} days, not %', days
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF batch IS NULL OR batch < 1 OR batch > 50000 THEN
        RAISE EXCEPTION 'a batch is 1 to 50000 rows, not %', batch
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    DELETE FROM {table} WHERE id IN (
        SELECT id FROM {table}
        WHERE {column} < now() - make_interval(days => days)
        ORDER BY {column}, id
        LIMIT batch
    );
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN removed;
END;
$$;
"""  # noqa: S608 (the names and numbers are this migration's constants)
    backward = f"""
DROP FUNCTION IF EXISTS retention_prune_{table}(integer, integer);
DROP TRIGGER IF EXISTS {table}_kept ON {table};
DROP FUNCTION IF EXISTS {table}_kept();
"""
    return forward, backward


class Migration(migrations.Migration):
    dependencies = [
        ("retention", "0001_initial"),
        ("api", "0003_retention_indexes"),
        ("accounts", "0015_notice_permissions"),
    ]

    operations = [
        migrations.RunSQL(APPEND_ONLY_LOG, APPEND_ONLY_LOG_BACK),
        *(migrations.RunSQL(*guarded(*log)) for log in LOGS),
    ]
