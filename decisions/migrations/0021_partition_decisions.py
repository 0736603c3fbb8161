"""Limit decisions partitioned by month of `created_at` (docs/architecture.md,
"Decisions partitioned by month").

The existing table is moved: a partitioned table of the same columns is made, a
partition for every month from the first decision's to next month and a DEFAULT one
for anything outside them (a back-dated row), the rows copied, the old table dropped
and the new one takes its name. The primary key becomes (id, created_at), as
PostgreSQL requires the partition's column in it; the other unique keys (a link per
account and sequence, the hash, the idempotency key) move to `decisions_decisionlink`,
which a statement trigger fills in the same statement as the decisions. The
append-only trigger is made again on the new table (its partitions inherit it); the
links get one of their own. New months' partitions are made ahead by a daily beat
task through `decisions_partition_ensure`, which runs with the owner's rights (the
app's login owns nothing).
"""

from django.db import migrations

FORWARD = r"""
CREATE FUNCTION decisions_partition_ensure(day date) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    first date := date_trunc('month', day)::date;
    name text := 'decisions_limitdecision_p' || to_char(first, 'YYYYMM');
BEGIN
    -- Already there (the daily task makes next month's ahead): no lock taken.
    IF to_regclass(name) IS NOT NULL THEN
        RETURN false;
    END IF;
    -- Bounds at midnight UTC, whatever the session's time zone.
    EXECUTE format(
        'CREATE TABLE %I PARTITION OF decisions_limitdecision FOR VALUES FROM (%L) TO (%L)',
        name,
        first::timestamp AT TIME ZONE 'UTC',
        (first + interval '1 month')::timestamp AT TIME ZONE 'UTC'
    );
    RETURN true;
EXCEPTION
    WHEN duplicate_table OR unique_violation THEN
        RETURN false;  -- created meanwhile by another transaction
    WHEN check_violation THEN
        -- The DEFAULT partition already holds rows of this month: they stay there (and
        -- are read as before); the month gets no partition of its own.
        RAISE WARNING 'decisions of % are in the default partition: no partition made', first;
        RETURN false;
END
$$;

CREATE FUNCTION limit_decision_links() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO decisions_decisionlink (decision_id, account_id, sequence, hash, idempotency_key)
    SELECT id, account_id, sequence, hash, idempotency_key FROM inserted;
    RETURN NULL;
END;
$$;

CREATE FUNCTION decision_link_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'decision links are append-only: % refused on decision %', TG_OP,
        OLD.decision_id
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

-- Emptied together: TRUNCATE (the owner's alone: a demo or benchmark loaded afresh,
-- the test suite's flush, accounts truncated with CASCADE) leaves no link behind.
CREATE FUNCTION decision_links_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE decisions_decisionlink;
    RETURN NULL;
EXCEPTION WHEN object_in_use THEN
    -- The same TRUNCATE names the links too (Django's flush names every table).
    RETURN NULL;
END;
$$;

CREATE TRIGGER decision_link_append_only
BEFORE UPDATE OR DELETE ON decisions_decisionlink
FOR EACH ROW EXECUTE FUNCTION decision_link_append_only();

CREATE TABLE decisions_limitdecision_new (
    LIKE decisions_limitdecision
    INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY INCLUDING STORAGE
) PARTITION BY RANGE (created_at);
ALTER TABLE decisions_limitdecision_new ADD PRIMARY KEY (id, created_at);
CREATE TABLE decisions_limitdecision_default
    PARTITION OF decisions_limitdecision_new DEFAULT;

DO $$
DECLARE
    month date;
    last date := (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month')::date;
BEGIN
    SELECT date_trunc('month', COALESCE(min(created_at), now()) AT TIME ZONE 'UTC')::date
    INTO month FROM decisions_limitdecision;
    WHILE month <= last LOOP
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF decisions_limitdecision_new '
            'FOR VALUES FROM (%L) TO (%L)',
            'decisions_limitdecision_p' || to_char(month, 'YYYYMM'),
            month::timestamp AT TIME ZONE 'UTC',
            (month + interval '1 month')::timestamp AT TIME ZONE 'UTC'
        );
        month := (month + interval '1 month')::date;
    END LOOP;
END
$$;

INSERT INTO decisions_limitdecision_new OVERRIDING SYSTEM VALUE
SELECT * FROM decisions_limitdecision;
INSERT INTO decisions_decisionlink (decision_id, account_id, sequence, hash, idempotency_key)
SELECT id, account_id, sequence, hash, idempotency_key FROM decisions_limitdecision;
SELECT setval(
    pg_get_serial_sequence('decisions_limitdecision_new', 'id'),
    COALESCE((SELECT max(id) FROM decisions_limitdecision), 0) + 1,
    false
);

DROP TABLE decisions_limitdecision;
ALTER TABLE decisions_limitdecision_new RENAME TO decisions_limitdecision;
ALTER TABLE decisions_limitdecision_default RENAME TO decisions_limitdecision_pdefault;
ALTER TABLE decisions_limitdecision
    RENAME CONSTRAINT decisions_limitdecision_new_pkey TO decisions_limitdecision_pkey;
DO $$
BEGIN
    EXECUTE format(
        'ALTER SEQUENCE %s RENAME TO decisions_limitdecision_id_seq',
        pg_get_serial_sequence('decisions_limitdecision', 'id')
    );
END
$$;

-- What the pages and the chain walk look up, on every partition.
CREATE INDEX decision_account_sequence ON decisions_limitdecision (account_id, sequence);
CREATE INDEX decision_created ON decisions_limitdecision (created_at);
CREATE INDEX decision_run ON decisions_limitdecision (run_id);
CREATE INDEX decision_idempotency_key ON decisions_limitdecision (idempotency_key);
CREATE INDEX decision_policy ON decisions_limitdecision (policy_id);
CREATE INDEX decision_actor ON decisions_limitdecision (actor_id);
CREATE INDEX decision_approver ON decisions_limitdecision (approver_id);
CREATE INDEX decision_reverts ON decisions_limitdecision (reverts_id);

ALTER TABLE decisions_limitdecision
    ADD CONSTRAINT decision_account_fk FOREIGN KEY (account_id)
        REFERENCES accounts_account (id) DEFERRABLE INITIALLY DEFERRED,
    ADD CONSTRAINT decision_policy_fk FOREIGN KEY (policy_id)
        REFERENCES decisions_policy (id) DEFERRABLE INITIALLY DEFERRED,
    ADD CONSTRAINT decision_run_fk FOREIGN KEY (run_id)
        REFERENCES decisions_rescorerun (id) DEFERRABLE INITIALLY DEFERRED,
    ADD CONSTRAINT decision_actor_fk FOREIGN KEY (actor_id)
        REFERENCES auth_user (id) DEFERRABLE INITIALLY DEFERRED,
    ADD CONSTRAINT decision_approver_fk FOREIGN KEY (approver_id)
        REFERENCES auth_user (id) DEFERRABLE INITIALLY DEFERRED;

CREATE TRIGGER limit_decision_append_only
BEFORE UPDATE OR DELETE ON decisions_limitdecision
FOR EACH ROW EXECUTE FUNCTION limit_decision_append_only();

CREATE TRIGGER limit_decision_links
AFTER INSERT ON decisions_limitdecision
REFERENCING NEW TABLE AS inserted
FOR EACH STATEMENT EXECUTE FUNCTION limit_decision_links();

CREATE TRIGGER limit_decision_links_truncate
AFTER TRUNCATE ON decisions_limitdecision
FOR EACH STATEMENT EXECUTE FUNCTION decision_links_truncate();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("decisions", "0020_decisions_by_month"),
        ("appeals", "0014_decisions_by_month"),
        ("policies", "0001_initial"),
        ("accounts", "0001_initial"),
    ]

    # Irreversible: a partitioned table does not go back to one table without its
    # unique keys being checked afresh; restore a backup instead.
    operations = [migrations.RunSQL(FORWARD)]
