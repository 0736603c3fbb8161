"""The outbox against a real receiver process: signed, hashed, retried with back-off,
dead letters, idempotent, never sent twice by two deliverers at once."""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from config.stack import free_port
from decisions.models import Notice, ReasonCode
from notices import services, webhook
from tests.notices.factories import pending_notice

pytestmark = pytest.mark.django_db


def deliver(**kwargs):
    return services.deliver_due(**kwargs)


def test_a_delivered_notice_records_the_hash_of_exactly_what_the_receiver_got(receiver):
    notice = pending_notice(reasons=["MANUAL_OVERRIDE"], language="en")
    tally = deliver()
    assert (tally.delivered, tally.retrying, tally.dead) == (1, 0, 0)

    notice.refresh_from_db()
    assert notice.state == Notice.State.DELIVERED
    assert notice.attempts == 1 and notice.delivered_at is not None
    [record] = receiver.records()
    assert record["idempotency_key"] == notice.idempotency_key
    delivered = record["body"].encode("utf-8")
    assert hashlib.sha256(delivered).hexdigest() == record["sha256"] == notice.content_sha256

    body = json.loads(delivered)
    decision = notice.decision
    assert body["account"] == notice.account.reference
    assert body["decision"] == decision.pk
    assert body["action"] == "decrease"
    assert (body["old_limit"], body["new_limit"]) == ("8000.00", "3000.00")
    assert body["idempotency_key"] == notice.idempotency_key
    assert body["language"] == "en"
    customer_text = ReasonCode.objects.get(code="MANUAL_OVERRIDE").text("customer", "en")
    assert body["reasons"][0]["code"] == "MANUAL_OVERRIDE"
    assert body["reasons"][0]["text"] == customer_text
    # Canonical: sorted keys, no whitespace.
    assert (
        delivered
        == json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )


def test_a_notice_goes_out_in_the_customers_language(receiver):
    notice = pending_notice(reasons=["MANUAL_OVERRIDE"], language="zh-hans")
    deliver()
    body = json.loads(receiver.records()[0]["body"])
    assert body["language"] == "zh-hans"
    chinese = ReasonCode.objects.get(code="MANUAL_OVERRIDE").text("customer", "zh-hans")
    assert body["reasons"][0]["text"] == chinese
    notice.refresh_from_db()
    assert notice.state == Notice.State.DELIVERED


def test_a_wrong_signature_is_refused_and_the_notice_is_a_dead_letter(receiver, settings):
    settings.NOTICE_WEBHOOK_SECRET = "not-the-receivers-secret"
    notice = pending_notice()
    assert deliver().dead == 1
    notice.refresh_from_db()
    assert notice.state == Notice.State.DEAD
    assert notice.last_error.startswith("HTTP 401")
    assert receiver.records() == []
    assert receiver.stats()["refused"] == 1


def test_a_503_is_retried_with_back_off_then_delivered(receiver):
    notice = pending_notice()
    receiver.fail(503, 2)
    start = timezone.now()
    assert deliver().retrying == 1
    notice.refresh_from_db()
    assert notice.state == Notice.State.RETRYING and notice.attempts == 1
    assert "HTTP 503" in notice.last_error
    assert notice.next_attempt_at is not None
    wait = (notice.next_attempt_at - start).total_seconds()
    assert 60 <= wait < 70  # NOTICE_RETRY_BASE_SECONDS

    assert deliver().sent == 0, "not due before its back-off has passed"

    later = notice.next_attempt_at + timedelta(seconds=1)
    assert deliver(now=later).retrying == 1
    notice.refresh_from_db()
    assert notice.attempts == 2 and notice.next_attempt_at is not None
    assert 120 <= (notice.next_attempt_at - later).total_seconds() < 130  # doubled

    assert deliver(now=notice.next_attempt_at + timedelta(seconds=1)).delivered == 1
    notice.refresh_from_db()
    assert notice.state == Notice.State.DELIVERED and notice.attempts == 3
    assert notice.last_error == ""
    assert len(receiver.records()) == 1


def test_the_back_off_doubles_up_to_its_cap():
    waits = [webhook.backoff_seconds(n, base=60, cap=3600) for n in range(1, 9)]
    assert waits == [60, 120, 240, 480, 960, 1920, 3600, 3600]


def test_no_deliverable_contact_is_a_dead_letter_at_once(receiver):
    notice = pending_notice(reference="LD-UNREACHABLE")
    assert deliver().dead == 1
    notice.refresh_from_db()
    assert notice.state == Notice.State.DEAD and notice.attempts == 1
    assert notice.last_error.startswith("HTTP 422")
    assert "no deliverable contact" in notice.last_error
    assert notice.content_sha256 == "" and notice.delivered_at is None


def test_a_notice_failing_every_attempt_becomes_a_dead_letter(receiver, settings):
    settings.NOTICE_MAX_ATTEMPTS = 3
    notice = pending_notice()
    receiver.fail(500, 10)
    at = timezone.now()
    for attempt in (1, 2, 3):
        deliver(now=at)
        notice.refresh_from_db()
        assert notice.attempts == attempt
        at = (notice.next_attempt_at or at) + timedelta(seconds=1)
    assert notice.state == Notice.State.DEAD
    assert "gave up after 3 attempts" in notice.last_error
    assert deliver(now=at + timedelta(days=1)).sent == 0  # a dead letter waits for a person


def test_a_refused_connection_is_retried(settings):
    settings.NOTICE_WEBHOOK_URL = f"http://127.0.0.1:{free_port()}/notices"
    settings.NOTICE_WEBHOOK_SECRET = "x" * 32
    notice = pending_notice()
    assert deliver().retrying == 1
    notice.refresh_from_db()
    assert notice.state == Notice.State.RETRYING
    assert "ConnectionRefused" in notice.last_error


def test_nothing_is_sent_without_a_webhook(settings):
    settings.NOTICE_WEBHOOK_URL = ""
    notice = pending_notice()
    assert deliver().sent == 0
    notice.refresh_from_db()
    assert notice.state == Notice.State.PENDING and notice.attempts == 0


def test_the_same_notice_sent_twice_is_recorded_once(receiver):
    notice = pending_notice()
    deliver()
    # As if a deliverer died after sending, before it wrote down the delivery.
    Notice.objects.filter(pk=notice.pk).update(state=Notice.State.PENDING, delivered_at=None)
    assert deliver().delivered == 1
    notice.refresh_from_db()
    assert notice.state == Notice.State.DELIVERED
    assert len(receiver.records()) == 1
    stats = receiver.stats()
    assert (stats["accepted"], stats["duplicates"]) == (1, 1)


def test_notices_not_due_or_not_required_are_left_alone(receiver):
    later = pending_notice(next_attempt_at=timezone.now() + timedelta(minutes=5))
    exempt = pending_notice(kind=Notice.Kind.EXEMPT, state=Notice.State.NOT_REQUIRED)
    assert deliver().sent == 0
    for notice in (later, exempt):
        before = notice.state
        notice.refresh_from_db()
        assert notice.state == before and notice.attempts == 0
    assert receiver.records() == []


@pytest.mark.django_db(transaction=True)
def test_two_deliverers_at_once_never_send_a_notice_twice(receiver):
    notices = [pending_notice() for _ in range(120)]
    errors: list[BaseException] = []

    def deliverer() -> None:
        try:
            deliver(batch_size=10)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliverer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert Notice.objects.filter(state=Notice.State.DELIVERED).count() == len(notices)
    assert set(Notice.objects.values_list("attempts", flat=True)) == {1}
    keys = [record["idempotency_key"] for record in receiver.records()]
    assert sorted(keys) == sorted(notice.idempotency_key for notice in notices)
    assert receiver.stats()["duplicates"] == 0, "a notice was posted twice"


def test_the_body_is_canonical_and_stable():
    from datetime import UTC, datetime

    from notices import content

    body = content.notice_body(
        account="LD-1",
        decision_id=7,
        action="close",
        old_limit=Decimal("8000"),
        new_limit=Decimal("0"),
        reasons=[content.NoticeReason("OVERDUE_SERIOUS", "逾期", ("90 天",), "还款")],
        decided_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        due_by=datetime(2026, 2, 1, 3, 4, 5, tzinfo=UTC),
        idempotency_key="k",
        language="zh-hans",
        kind="individual",
    )
    assert (
        body
        == (
            '{"account":"LD-1","action":"closure","classification":"individual",'
            '"decided_at":"2026-01-02T03:04:05.000000Z","decision":7,'
            '"due_by":"2026-02-01T03:04:05.000000Z","idempotency_key":"k","language":"zh-hans",'
            '"new_limit":"0.00","old_limit":"8000.00","reasons":[{"code":"OVERDUE_SERIOUS",'
            '"facts":["90 天"],"suggestion":"还款","text":"逾期"}]}'
        ).encode()
    )


def test_the_notice_states_the_reasons_with_the_accounts_own_figures(receiver):
    """Case A's cut: the same words as the customer notice on the decision page."""
    from django.core.management import call_command

    from accounts.models import Account
    from tests.notices.factories import notice_for

    call_command("seed_demo", "--accounts", "0", verbosity=0)
    case_a = Account.objects.get(reference="LD-CASE-A")
    notice = notice_for(case_a.decisions.get(sequence=1), language="en")
    assert deliver().delivered == 1
    body = json.loads(receiver.records()[0]["body"])
    assert [reason["code"] for reason in body["reasons"]][:2] == ["BAND_CEILING", "MULTI_LENDING"]
    first = body["reasons"][0]
    assert first["text"].startswith("Your limit was above the most")
    assert "band E's ceiling of ¥3,000" in first["facts"][0]
    assert (body["old_limit"], body["new_limit"]) == ("8000.00", "3000.00")
    notice.refresh_from_db()
    assert notice.content_sha256 == hashlib.sha256(body_bytes(receiver)).hexdigest()


def body_bytes(receiver) -> bytes:
    return receiver.records()[0]["body"].encode("utf-8")
