"""Signed checkpoints of the chain heads, outside the database, catch a rewrite that the
hash chain alone cannot: the owner of the tables changing a decision and computing every
later hash and the account's chain head again (docs/architecture.md, "Who can rewrite
the audit trail")."""

from __future__ import annotations

import gzip
import json
import re
import secrets
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from accounts import roles
from decisions import chain, overrides
from decisions.audit_trail import audit_chain_report
from decisions.models import LimitDecision
from tests.base import make_account, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    return make_user("alice", roles.RISK_ANALYST)


@pytest.fixture
def key(settings) -> str:
    settings.AUDIT_CHECKPOINT_KEY = secrets.token_hex(32)
    settings.AUDIT_CHECKPOINT_KEY_FILE = ""
    return settings.AUDIT_CHECKPOINT_KEY


def override(account, limit, actor):
    account.refresh_from_db()
    return overrides.account_override_limit(
        account_id=account.pk,
        expected_version=account.version,
        new_limit=limit,
        actor=actor,
        justification="Customer verified a new salary flow.",
    ).decision


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def take_checkpoint() -> str:
    """`manage.py audit_checkpoint`; the time it names, as verify_audit_chain names it."""
    out = run("audit_checkpoint")
    found = re.search(r"Audit checkpoint of (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC): ", out)
    assert found, out
    return found.group(1)


def rewrite_history(account, decision, new_limit: str) -> None:
    """The attack, as the owner of the tables can make it: switch the append-only
    trigger off, change one decision, compute every later hash and the account's chain
    head again with decisions/chain.py, switch the trigger on again."""
    fields = ["id", "prev_hash", "hash", *chain.HASHED_FIELDS]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no deferred check holds ALTER back
        cursor.execute("ALTER TABLE decisions_limitdecision DISABLE TRIGGER USER")
        cursor.execute(
            "UPDATE decisions_limitdecision SET new_limit = %s WHERE id = %s",
            [new_limit, decision.pk],
        )
        prev_hash = ""
        for row in LimitDecision.objects.filter(account=account).values(*fields):
            new_hash = chain.decision_hash(prev_hash, row)
            cursor.execute(
                "UPDATE decisions_limitdecision SET prev_hash = %s, hash = %s WHERE id = %s",
                [prev_hash, new_hash, row["id"]],
            )
            prev_hash = new_hash
        cursor.execute(
            "UPDATE accounts_account SET chain_head = %s WHERE id = %s", [prev_hash, account.pk]
        )
        cursor.execute("ALTER TABLE decisions_limitdecision ENABLE TRIGGER USER")


@pytest.mark.django_db(transaction=True)
def test_a_rewrite_with_the_chain_computed_again_is_caught_by_the_checkpoint(alice, key):
    account = make_account(reference="LD-REWRITE")
    first = override(account, "12000", alice)
    override(account, "13000", alice)
    override(make_account(reference="LD-BYSTANDER"), "9000", alice)
    taken = take_checkpoint()
    override(account, "14000", alice)  # after the checkpoint: nothing wrong with that
    assert "It matches the signed audit checkpoint" in run("verify_audit_chain")

    rewrite_history(account, first, "50000.00")

    # The chain alone is fooled: every hash and the chain head agree again.
    assert LimitDecision.objects.get(pk=first.pk).new_limit == 50000
    assert audit_chain_report().broken == []
    with pytest.raises(CommandError) as caught:
        call_command("verify_audit_chain")
    message = str(caught.value)
    assert "The audit chain is intact" not in message
    assert f"do not match the signed audit checkpoint of {taken}" in message
    assert "and the chain's hashes computed again after them" in message
    assert re.search(r"Accounts with ids \d+–\d+ \(LD-REWRITE, LD-BYSTANDER\)", message)
    with pytest.raises(CommandError, match="LD-REWRITE"):
        call_command("verify_audit_chain", "--account", "LD-REWRITE")


def test_a_removed_latest_decision_with_the_head_moved_back_is_named(alice, key):
    account = make_account(reference="LD-TAIL")
    first = override(account, "12000", alice)
    last = override(account, "13000", alice)
    taken = take_checkpoint()
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE decisions_limitdecision DISABLE TRIGGER USER")
        cursor.execute("DELETE FROM decisions_limitdecision WHERE id = %s", [last.pk])
        cursor.execute("ALTER TABLE decisions_limitdecision ENABLE TRIGGER USER")
        cursor.execute(
            "UPDATE accounts_account SET chain_head = %s WHERE id = %s", [first.hash, account.pk]
        )
    assert audit_chain_report().broken == []
    with pytest.raises(CommandError) as caught:
        call_command("verify_audit_chain")
    message = str(caught.value)
    assert f"checkpoint of {taken}" in message
    assert (
        f"Account LD-TAIL (id {account.pk}): decision #2, the head at the checkpoint, is missing."
        in message
    )


def test_the_checkpoint_says_what_it_holds_and_verify_agrees(alice, key, settings):
    one, two = make_account(), make_account()
    override(one, "12000", alice)
    override(one, "13000", alice)
    override(two, "9000", alice)
    make_account()  # no decision yet: not in the checkpoint
    out = run("audit_checkpoint")
    assert "3 decisions" in out and "2 accounts' chain heads" in out
    written = list(Path(settings.AUDIT_CHECKPOINT_DIR).iterdir())
    assert len(written) == 1 and str(written[0]) in out
    assert re.fullmatch(r"audit-checkpoint-\d{8}T\d{12}Z\.json\.gz", written[0].name)
    document = json.loads(gzip.decompress(written[0].read_bytes()))
    assert document["database"] == connection.settings_dict["NAME"]
    assert key not in written[0].read_bytes().decode("latin-1")
    out = run("verify_audit_chain")
    assert "The audit chain is intact: 3 decisions across 2 accounts." in out
    assert "It matches the signed audit checkpoint of" in out
    assert "(2 accounts' chain heads)" in out


def test_without_a_checkpoint_the_chain_is_checked_alone_and_that_is_said(alice, key):
    override(make_account(), "12000", alice)
    out = run("verify_audit_chain")
    assert "The audit chain is intact: 1 decisions across 1 accounts." in out
    assert "No audit checkpoint yet in " in out
    assert "checked against its own hashes only" in out


def test_the_latest_checkpoint_is_the_one_compared(alice, key):
    account = make_account(reference="LD-LATEST")
    override(account, "12000", alice)
    take_checkpoint()
    override(account, "13000", alice)
    taken = take_checkpoint()
    assert f"It matches the signed audit checkpoint of {taken}" in run("verify_audit_chain")


def test_a_checkpoint_signed_with_another_key_is_not_trusted(alice, key, settings):
    override(make_account(), "12000", alice)
    take_checkpoint()
    settings.AUDIT_CHECKPOINT_KEY = secrets.token_hex(32)
    with pytest.raises(CommandError) as caught:
        call_command("verify_audit_chain")
    assert re.search(
        r"The latest audit checkpoint, audit-checkpoint-\S+\.json\.gz, cannot be trusted: its "
        r"signature does not match: the file was altered, or signed with another key\.",
        str(caught.value),
    )


def test_an_altered_checkpoint_file_is_not_trusted(alice, key, settings):
    account = make_account()
    override(account, "12000", alice)
    override(account, "13000", alice)
    take_checkpoint()
    (path,) = Path(settings.AUDIT_CHECKPOINT_DIR).iterdir()
    document = json.loads(gzip.decompress(path.read_bytes()))
    # Whoever rewrote decision #2 away would have the checkpoint say the head was #1.
    sequences = document["buckets"][0]["sequences"]
    sequences[sequences.index(2)] = 1
    path.write_bytes(gzip.compress(json.dumps(document).encode()))
    with pytest.raises(CommandError, match="cannot be trusted: its signature does not match"):
        call_command("verify_audit_chain")


def test_a_file_that_is_no_checkpoint_is_not_trusted(alice, key, settings):
    override(make_account(), "12000", alice)
    take_checkpoint()
    (path,) = Path(settings.AUDIT_CHECKPOINT_DIR).iterdir()
    path.write_bytes(b"nothing to see here")
    with pytest.raises(CommandError, match=r"it is not a checkpoint file"):
        call_command("verify_audit_chain")


NO_KEY = "No key to sign or check audit checkpoints with: set AUDIT_CHECKPOINT_KEY"


def test_with_debug_off_and_no_key_checkpointing_fails_clearly(alice, settings):
    override(make_account(), "12000", alice)
    settings.DEBUG = False
    settings.AUDIT_CHECKPOINT_KEY = settings.AUDIT_CHECKPOINT_KEY_FILE = ""
    with pytest.raises(CommandError, match=NO_KEY):
        call_command("audit_checkpoint")
    assert not Path(settings.AUDIT_CHECKPOINT_DIR).exists()
    # Nothing to compare with: the chain is checked without a key.
    assert "No audit checkpoint yet" in run("verify_audit_chain")


def test_with_debug_off_and_no_key_a_checkpoint_cannot_be_checked(alice, key, settings):
    override(make_account(), "12000", alice)
    take_checkpoint()
    settings.DEBUG = False
    settings.AUDIT_CHECKPOINT_KEY = ""
    with pytest.raises(CommandError, match=NO_KEY):
        call_command("verify_audit_chain")


def test_a_short_key_or_an_unreadable_key_file_is_refused_clearly(settings, tmp_path):
    settings.AUDIT_CHECKPOINT_KEY = "secret"
    with pytest.raises(
        CommandError,
        match="AUDIT_CHECKPOINT_KEY is 6 characters long; an audit checkpoint key "
        "needs at least 32",
    ):
        call_command("audit_checkpoint")
    settings.AUDIT_CHECKPOINT_KEY = ""
    settings.AUDIT_CHECKPOINT_KEY_FILE = str(tmp_path / "missing.key")
    with pytest.raises(
        CommandError,
        match=r"AUDIT_CHECKPOINT_KEY_FILE names \S+missing\.key, which cannot be "
        r"read \(No such file or directory\)\.",
    ):
        call_command("audit_checkpoint")


def test_the_key_comes_from_its_file(alice, settings, tmp_path):
    override(make_account(), "12000", alice)
    key_file = tmp_path / "checkpoint.key"
    key_file.write_text(secrets.token_hex(32) + "\n")
    settings.AUDIT_CHECKPOINT_KEY = ""
    settings.AUDIT_CHECKPOINT_KEY_FILE = str(key_file)
    take_checkpoint()
    assert "It matches the signed audit checkpoint" in run("verify_audit_chain")
    key_file.write_text(secrets.token_hex(32) + "\n")  # the key changed since
    with pytest.raises(CommandError, match="signature does not match"):
        call_command("verify_audit_chain")


def test_beat_writes_a_checkpoint_every_day_at_half_past_midnight(settings):
    from decisions.tasks import audit_checkpoint

    entry = settings.CELERY_BEAT_SCHEDULE["audit-checkpoint"]
    assert entry["task"] == audit_checkpoint.name
    assert entry["schedule"].hour == {0} and entry["schedule"].minute == {30}


@pytest.fixture
def worker_checkpoints(settings, monkeypatch) -> Path:
    """A key and a directory shared with the workers (set before they start)."""
    key = secrets.token_hex(32)
    settings.AUDIT_CHECKPOINT_KEY = key
    monkeypatch.setenv("AUDIT_CHECKPOINT_KEY", key)
    monkeypatch.setenv("AUDIT_CHECKPOINT_DIR", str(settings.AUDIT_CHECKPOINT_DIR))
    return Path(settings.AUDIT_CHECKPOINT_DIR)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_beat_s_task_writes_the_checkpoint_on_a_worker_as_the_app(
    worker_checkpoints, worker_factory, alice
):
    from decisions.tasks import audit_checkpoint

    account = make_account(reference="LD-BEAT")
    override(account, "12000", alice)
    worker_factory()
    audit_checkpoint.delay()
    deadline = time.monotonic() + 60
    while not list(worker_checkpoints.glob("audit-checkpoint-*.json.gz")):
        assert time.monotonic() < deadline, "the worker wrote no checkpoint in 60 s"
        time.sleep(0.2)
    assert "It matches the signed audit checkpoint" in run("verify_audit_chain")
