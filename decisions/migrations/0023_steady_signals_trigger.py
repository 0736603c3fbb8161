"""A change to an account's signals deletes its steady mark, whoever writes them (the
API, a signal file, an appeal's evidence, a script): the nightly run then scores it
(docs/architecture.md, "The incremental nightly run")."""

from django.db import migrations

FORWARD = """
CREATE FUNCTION decisions_steady_signals_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM decisions_steadyaccount AS m
    USING changed_signals AS s
    WHERE m.account_id = s.account_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER steady_signals_changed
AFTER UPDATE ON accounts_accountsignals
REFERENCING NEW TABLE AS changed_signals
FOR EACH STATEMENT EXECUTE FUNCTION decisions_steady_signals_changed();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS steady_signals_changed ON accounts_accountsignals;
DROP FUNCTION IF EXISTS decisions_steady_signals_changed();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0015_notice_permissions"),
        ("decisions", "0022_steady_accounts"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
