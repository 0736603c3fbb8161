"""PostgreSQL refuses UPDATE and DELETE on policy events; the one kill-switch row."""

from django.db import migrations

FORWARD = """
CREATE FUNCTION policy_event_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'policy events are append-only: % refused on event %', TG_OP, OLD.id
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER policy_event_append_only
BEFORE UPDATE OR DELETE ON policies_policyevent
FOR EACH ROW EXECUTE FUNCTION policy_event_append_only();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS policy_event_append_only ON policies_policyevent;
DROP FUNCTION IF EXISTS policy_event_append_only();
"""


def create_switch(apps, schema_editor):
    apps.get_model("policies", "KillSwitch").objects.get_or_create(id=1)


class Migration(migrations.Migration):
    dependencies = [("policies", "0001_initial")]

    operations = [
        migrations.RunSQL(FORWARD, BACKWARD),
        migrations.RunPython(create_switch, migrations.RunPython.noop),
    ]
