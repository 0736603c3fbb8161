"""PostgreSQL itself refuses to UPDATE or DELETE a limit decision."""

from django.db import migrations

FORWARD = """
CREATE FUNCTION limit_decision_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'limit decisions are append-only: % refused on decision %', TG_OP, OLD.id
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Record a new decision (e.g. a revert) instead of changing history.';
END;
$$;

CREATE TRIGGER limit_decision_append_only
BEFORE UPDATE OR DELETE ON decisions_limitdecision
FOR EACH ROW EXECUTE FUNCTION limit_decision_append_only();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS limit_decision_append_only ON decisions_limitdecision;
DROP FUNCTION IF EXISTS limit_decision_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("decisions", "0002_reasoncode_limitdecision_overriderequest_policy_and_more")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
