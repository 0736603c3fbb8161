"""Retention: what is past its period goes, in batches; what is not stays; decisions,
the audit chain and policy versions never go (docs/architecture.md, "Retention")."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from accounts import roles
from accounts.models import AccountSignals, PersonalDataReveal, PersonalDataSearch
from api import services as api_services
from api.models import ApiCall, SignalEvent
from appeals.evidence_files import evidence_path
from appeals.models import Appeal, AppealEvent, Evidence
from decisions import overrides
from decisions.models import LimitDecision, Notice
from policies.models import Policy, PolicyEvent
from retention import rules, services
from retention.checks import retention_settings_check
from retention.models import RetentionPrune
from tests.base import make_account, make_signals, make_user

pytestmark = pytest.mark.django_db


def ago(days: float) -> Any:
    return timezone.now() - timedelta(days=days)


@pytest.fixture
def people(db):
    return {
        "alice": make_user("alice", roles.RISK_ANALYST),
        "root": make_user("root", roles.ADMINISTRATOR),
        "frank": make_user("frank", roles.AUDITOR),
    }


@pytest.fixture
def key(people):
    return api_services.api_key_create(
        name="risk-engine", scopes=["signals:write"], actor=people["root"]
    )


def api_call(at: Any) -> ApiCall:
    return ApiCall.objects.create(method="POST", path="/api/v1/signals/events", status=200,
                                  milliseconds=3, at=at)  # fmt: skip


def signal_event(key: Any, event_id: str, received_at: Any) -> SignalEvent:
    account = make_account()
    return SignalEvent.objects.create(
        event_id=event_id,
        account=account,
        observed_at=received_at,
        outcome="applied",
        key=key[0],
        received_at=received_at,
    )


def notice(analyst: Any, *, state: str, created_at: Any) -> Notice:
    """A notice of a real decision (an override), in `state`, created at `created_at`."""
    account = make_account(current_limit=Decimal("10000.00"))
    decision = overrides.account_override_limit(
        account_id=account.pk,
        expected_version=account.version,
        new_limit="12000",
        actor=analyst,
        justification="Customer verified a new salary flow.",
    ).decision
    assert decision is not None
    row, _created = Notice.objects.update_or_create(
        decision=decision,
        defaults={
            "account": account,
            "kind": Notice.Kind.INDIVIDUAL,
            "language": "en",
            "reasons": ["MANUAL_OVERRIDE"],
            "created_at": created_at,
            "due_by": created_at + timedelta(days=30),
            "state": state,
            "idempotency_key": f"notice:{decision.pk}",
        },
    )
    return row


def appeal_with_evidence(*, state: str, closed_at: Any = None, uploaded_at: Any = None) -> Evidence:
    appeal = Appeal.objects.create(
        account=make_account(),
        channel="written",
        category="evidence",
        statement="Salary flow attached.",
        sla_due=timezone.now() + timedelta(hours=8),
        state=state,
    )
    if closed_at is not None:
        AppealEvent.objects.create(
            appeal=appeal, move="close", from_state="decided", to_state=state, at=closed_at
        )
    content = f"%PDF-1.4 evidence of appeal {appeal.pk}".encode()
    stored_as = hashlib.sha256(content).hexdigest()[:32]
    path = evidence_path(stored_as)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return Evidence.objects.create(
        appeal=appeal,
        name="salary.pdf",
        content_type="application/pdf",
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        stored_as=stored_as,
        uploaded_at=uploaded_at or ago(900),
    )


@pytest.fixture(autouse=True)
def evidence_root(settings, tmp_path):
    settings.EVIDENCE_ROOT = tmp_path / "evidence"


def test_the_defaults_meet_the_periods_of_the_rules(settings):
    assert settings.RETENTION_API_CALL_LOG_DAYS >= 183  # AI Act: six months at least
    assert settings.RETENTION_SIGNAL_EVENT_DAYS >= settings.SIGNAL_EVENT_IDEMPOTENCY_DAYS
    assert settings.RETENTION_APPEAL_EVIDENCE_DAYS >= 25 * 30.44  # Reg B: 25 months
    assert settings.RETENTION_NOTICE_DAYS >= 25 * 30.44
    assert settings.RETENTION_REVEAL_DAYS >= 3 * 365 + 1  # PIPL: three years
    assert retention_settings_check() == []
    for rule in rules.RULES:
        assert getattr(settings, rule.setting) == rule.default_days


def test_old_records_of_every_category_go_and_recent_ones_stay(people, key):
    alice = people["alice"]
    old_call, new_call = api_call(ago(401)), api_call(ago(399))
    old_event = signal_event(key, "old-1", ago(401))
    new_event = signal_event(key, "new-1", ago(20))
    account = make_account()
    old_reveal = PersonalDataReveal.objects.create(
        account=account, user=people["frank"], purpose="Court order", revealed_at=ago(1097)
    )
    new_reveal = PersonalDataReveal.objects.create(
        account=account, user=people["frank"], purpose="Court order", revealed_at=ago(1000)
    )
    old_search = PersonalDataSearch.objects.create(
        user=alice, query="13800001234", whole_number=True, searched_at=ago(1097)
    )
    new_search = PersonalDataSearch.objects.create(
        user=alice, query="13800001234", whole_number=True, searched_at=ago(3)
    )
    delivered_old = notice(alice, state="delivered", created_at=ago(763))
    dead_old = notice(alice, state="dead", created_at=ago(800))
    not_required_old = notice(alice, state="not_required", created_at=ago(800))
    pending_old = notice(alice, state="pending", created_at=ago(800))
    retrying_old = notice(alice, state="retrying", created_at=ago(800))
    delivered_new = notice(alice, state="delivered", created_at=ago(700))
    closed_long_ago = appeal_with_evidence(state="closed", closed_at=ago(763))
    withdrawn_long_ago = appeal_with_evidence(state="withdrawn", closed_at=ago(900))
    closed_lately = appeal_with_evidence(state="closed", closed_at=ago(100))
    still_open = appeal_with_evidence(state="in_review", uploaded_at=ago(2000))
    decisions = set(LimitDecision.objects.values_list("id", "hash"))
    policies = set(Policy.objects.values_list("id", "state"))
    policy_events = PolicyEvent.objects.count()

    done = {item.category: item for item in services.retention_prune()}

    assert set(ApiCall.objects.values_list("id", flat=True)) == {new_call.pk}
    assert set(SignalEvent.objects.values_list("id", flat=True)) == {new_event.pk}
    assert set(PersonalDataReveal.objects.values_list("id", flat=True)) == {new_reveal.pk}
    assert set(PersonalDataSearch.objects.values_list("id", flat=True)) == {new_search.pk}
    assert set(Notice.objects.values_list("id", flat=True)) == {
        pending_old.pk, retrying_old.pk, delivered_new.pk
    }  # fmt: skip
    assert set(Evidence.objects.values_list("id", flat=True)) == {closed_lately.pk, still_open.pk}
    for gone in (closed_long_ago, withdrawn_long_ago):
        assert not evidence_path(gone.stored_as).exists()
    for kept in (closed_lately, still_open):
        assert evidence_path(kept.stored_as).exists()
    # The appeal's timeline still says which files there were.
    assert Appeal.objects.filter(pk=closed_long_ago.appeal_id).exists()
    # Decisions (those of the pruned notices included), policies and their events stay.
    assert set(LimitDecision.objects.values_list("id", "hash")) == decisions
    assert {delivered_old.decision_id, dead_old.decision_id, not_required_old.decision_id} <= {
        pk for pk, _hash in decisions
    }
    assert set(Policy.objects.values_list("id", "state")) == policies
    assert PolicyEvent.objects.count() == policy_events
    assert not ApiCall.objects.filter(pk=old_call.pk).exists()
    assert not SignalEvent.objects.filter(pk=old_event.pk).exists()
    assert not PersonalDataReveal.objects.filter(pk=old_reveal.pk).exists()
    assert not PersonalDataSearch.objects.filter(pk=old_search.pk).exists()

    removed = {item.category: (item.removed, item.files_removed) for item in done.values()}
    assert removed == {
        "api_calls": (1, 0),
        "signal_events": (1, 0),
        "appeal_evidence": (2, 2),
        "reveals": (2, 0),
        "notices": (3, 0),
    }
    log = {row.category: row for row in RetentionPrune.objects.all()}
    assert {c: (row.removed, row.files_removed) for c, row in log.items()} == removed
    assert log["notices"].days == 762 and log["api_calls"].days == 400
    assert abs(log["api_calls"].cutoff - ago(400)) < timedelta(minutes=1)
    assert all(row.trigger == "command" for row in log.values())

    # The next prune finds nothing more, and says so in the log.
    again = services.retention_prune()
    assert sum(item.removed for item in again) == 0
    assert RetentionPrune.objects.count() == 10


def test_more_rows_than_a_batch_go_in_several_short_batches(settings, key):
    settings.RETENTION_BATCH_SIZE = 3
    for _ in range(7):
        api_call(ago(500))
    api_call(ago(1))
    for number in range(8):
        signal_event(key, f"old-{number}", ago(500))
    done = {item.category: item for item in services.retention_prune()}
    assert (done["api_calls"].removed, done["api_calls"].batches) == (7, 3)
    assert (done["signal_events"].removed, done["signal_events"].batches) == (8, 3)
    assert ApiCall.objects.count() == 1 and not SignalEvent.objects.exists()
    log = RetentionPrune.objects.get(category="signal_events")
    assert (log.removed, log.batches) == (8, 3)


def test_a_dry_run_says_what_would_go_and_changes_nothing(people, key):
    api_call(ago(401))
    api_call(ago(401))
    signal_event(key, "old-1", ago(401))
    notice(people["alice"], state="delivered", created_at=ago(800))
    evidence = appeal_with_evidence(state="closed", closed_at=ago(800))
    out = io.StringIO()
    call_command("prune_retention", "--dry-run", stdout=out)
    text = out.getvalue()
    assert "api_calls: would remove 2 older than" in text
    assert "signal_events: would remove 1" in text
    assert "appeal_evidence: would remove 1" in text
    assert "notices: would remove 1" in text and "reveals: would remove 0" in text
    assert "Dry run: nothing was removed." in text
    assert ApiCall.objects.count() == 2 and SignalEvent.objects.count() == 1
    assert Notice.objects.count() == 1 and Evidence.objects.count() == 1
    assert evidence_path(evidence.stored_as).exists()
    assert not RetentionPrune.objects.exists()

    out = io.StringIO()
    call_command("prune_retention", stdout=out)
    assert "api_calls: removed 2 older than" in out.getvalue()
    assert "appeal_evidence: removed 1 older than" in out.getvalue()
    assert "1 files" in out.getvalue()
    assert not ApiCall.objects.exists() and not Evidence.objects.exists()


def test_a_signal_event_retention_below_the_idempotency_window_is_refused(settings, key):
    settings.SIGNAL_EVENT_IDEMPOTENCY_DAYS = 30
    settings.RETENTION_SIGNAL_EVENT_DAYS = 29
    errors = retention_settings_check()
    assert [error.id for error in errors] == ["retention.E001"]
    assert "RETENTION_SIGNAL_EVENT_DAYS is 29 days, shorter than SIGNAL_EVENT_IDEMPOTENCY_DAYS" in (
        errors[0].msg
    )
    # The pruner refuses to run on it: nothing goes.
    signal_event(key, "old-1", ago(500))
    api_call(ago(500))
    with pytest.raises(services.RetentionMisconfigured, match="RETENTION_SIGNAL_EVENT_DAYS"):
        services.retention_prune()
    with pytest.raises(CommandError, match="idempotency window"):
        call_command("prune_retention")
    assert SignalEvent.objects.count() == 1 and ApiCall.objects.count() == 1
    assert not RetentionPrune.objects.exists()
    settings.RETENTION_SIGNAL_EVENT_DAYS = 30
    assert retention_settings_check() == []


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("RETENTION_API_CALL_LOG_DAYS", 182, "at least 183 are needed (EU AI Act"),
        ("RETENTION_REVEAL_DAYS", 365, "at least 1096 are needed (PIPL"),
        ("RETENTION_NOTICE_DAYS", 700, "at least 762 are needed (Reg B"),
        ("RETENTION_APPEAL_EVIDENCE_DAYS", 0, "must be a positive integer"),
        ("RETENTION_BATCH_SIZE", 0, "RETENTION_BATCH_SIZE must be an integer from 1"),
        ("SIGNAL_EVENT_IDEMPOTENCY_DAYS", -1, "SIGNAL_EVENT_IDEMPOTENCY_DAYS must be a positive"),
    ],
)
def test_the_system_check_names_a_period_below_its_floor(settings, name, value, says):
    setattr(settings, name, value)
    errors = retention_settings_check()
    assert len(errors) == 1 and says in errors[0].msg


def test_the_database_keeps_the_floors_even_for_the_owner(key):
    recent = api_call(ago(100))
    with connection.cursor() as cursor:
        with (
            pytest.raises(DatabaseError, match="kept at least 183 days, not 182"),
            transaction.atomic(),
        ):
            cursor.execute("SELECT retention_prune_api_apicall(182, 10)")
        with pytest.raises(DatabaseError, match="kept at least 1096 days"), transaction.atomic():
            cursor.execute("SELECT retention_prune_accounts_personaldatareveal(1095, 10)")
        # A DELETE of a row younger than the floor is refused by the trigger, to anyone.
        with (
            pytest.raises(DatabaseError, match="API calls are kept 183 days: DELETE refused"),
            transaction.atomic(),
        ):
            cursor.execute("DELETE FROM api_apicall WHERE id = %s", [recent.pk])
    services.retention_prune()
    assert ApiCall.objects.filter(pk=recent.pk).exists()
    row = RetentionPrune.objects.first()
    assert row is not None
    with connection.cursor() as cursor:
        for statement in (
            "UPDATE retention_retentionprune SET removed = 0 WHERE id = %s",
            "DELETE FROM retention_retentionprune WHERE id = %s",
        ):
            with (
                pytest.raises(DatabaseError, match="the retention log is append-only"),
                transaction.atomic(),
            ):
                cursor.execute(statement, [row.pk])


def test_a_resent_event_after_its_record_went_changes_nothing(key):
    account = make_account(reference="LD-RESENT")
    make_signals(account, lender_applications_30d=1, lender_applications_90d=2)
    AccountSignals.objects.filter(account=account).update(observed_at=ago(2))
    event = api_services.Event(
        "engine:1",
        "LD-RESENT",
        ago(1),
        {"lender_applications_30d": 9, "lender_applications_90d": 9},
    )
    assert api_services.signal_events_apply(key=key[0], events=[event])[0].status == "applied"
    assert api_services.signal_events_apply(key=key[0], events=[event])[0].status == "duplicate"
    SignalEvent.objects.update(received_at=ago(401))
    services.retention_prune()
    assert not SignalEvent.objects.exists()
    AccountSignals.objects.filter(account=account).update(lender_applications_30d=2)
    # Past the window the id is forgotten, and the event is older than the signals on file.
    assert api_services.signal_events_apply(key=key[0], events=[event])[0].status == "stale"
    assert AccountSignals.objects.get(account=account).lender_applications_30d == 2


def test_the_auditor_reads_the_periods_and_the_log(client, people, key):
    api_call(ago(401))
    services.retention_prune()
    client.force_login(people["frank"])
    page = client.get("/retention/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "RETENTION_API_CALL_LOG_DAYS" in html and "RETENTION_NOTICE_DAYS" in html
    assert "EU AI Act Art. 12 and 26(6)" in html and "PIPL Art. 55–56" in html
    assert "1 record removed" in html
    assert "762" in html and "1096" in html and "400" in html
    client.force_login(people["alice"])
    assert client.get("/retention/").status_code == 403
