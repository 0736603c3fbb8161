"""Month partitions of the snapshot table, created and dropped by the running app.

Only the owner of `history_accountsnapshot` may add or remove its partitions, and
the app's database login owns nothing (config/grants.py). These two functions run
with their owner's rights (SECURITY DEFINER) and do one thing each: create a
month's partition, or detach and drop a past month's (docs/architecture.md,
"Snapshots in a run").
"""

from django.db import migrations

ENSURE = """
CREATE FUNCTION history_partition_ensure(day date) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    first date := date_trunc('month', day)::date;
    name text := 'history_accountsnapshot_p' || to_char(first, 'YYYYMM');
BEGIN
    -- Already there (the daily task makes next month's ahead): no lock taken.
    IF to_regclass(name) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format(
        'CREATE TABLE %I PARTITION OF history_accountsnapshot FOR VALUES FROM (%L) TO (%L)',
        name, first, (first + interval '1 month')::date
    );
    RETURN true;
EXCEPTION WHEN duplicate_table OR unique_violation THEN
    RETURN false;  -- created meanwhile by another transaction
END
$$;
"""

DROP = """
CREATE FUNCTION history_partition_drop(month date, wait interval) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    first date := date_trunc('month', month)::date;
    name text := 'history_accountsnapshot_p' || to_char(first, 'YYYYMM');
BEGIN
    IF first >= date_trunc('month', current_date)::date THEN
        RAISE EXCEPTION 'the partition of % is not in the past', first;
    END IF;
    IF to_regclass(name) IS NULL THEN
        RETURN false;
    END IF;
    -- DETACH takes an exclusive lock on the parent (CONCURRENTLY cannot run inside a
    -- function's transaction): wait at most `wait` for it, else fail and retry tomorrow.
    PERFORM set_config('lock_timeout', (extract(epoch FROM wait) * 1000)::bigint::text, true);
    EXECUTE format('ALTER TABLE history_accountsnapshot DETACH PARTITION %I', name);
    EXECUTE format('DROP TABLE %I', name);
    RETURN true;
END
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("history", "0001_initial")]

    operations = [
        migrations.RunSQL(ENSURE, "DROP FUNCTION history_partition_ensure(date);"),
        migrations.RunSQL(DROP, "DROP FUNCTION history_partition_drop(date, interval);"),
    ]
