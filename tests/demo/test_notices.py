"""The demo's customer notices (docs/architecture.md, "Notices: the register"): the story
accounts' cuts and closures come with notices that look like a real register's, and
about a fifth of the customers read theirs in English."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from accounts.models import Account
from decisions.models import LimitDecision, Notice
from demo import stories

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo():
    call_command("seed_demo", "--accounts", "1000", "--seed", "7", verbosity=0)


def test_about_a_fifth_of_the_customers_read_english(demo):
    generated = Account.objects.exclude(reference__startswith="LD-")
    english = generated.filter(language="en").count()
    assert 150 <= english <= 250, english
    assert Account.objects.get(reference="LD-SALARY").language == "en"


def test_every_story_cut_and_closure_has_one_notice_and_none_waits_from_long_ago(demo):
    adverse = [
        d
        for d in LimitDecision.objects.select_related("account")
        if d.new_limit < d.old_limit or (d.new_status == "closed" and d.old_status != "closed")
    ]
    assert len(adverse) >= 5
    notices = {n.decision_id: n for n in Notice.objects.all()}
    assert set(notices) == {d.pk for d in adverse}
    now = timezone.now()
    for decision in adverse:
        notice = notices[decision.pk]
        assert notice.reasons == decision.reasons
        assert notice.due_by == decision.created_at + timedelta(days=30)
        assert notice.language == decision.account.language
        assert notice.state != "pending", f"{decision.account.reference} waits since {decision}"
        if notice.state == "delivered":
            assert re.fullmatch(r"[0-9a-f]{64}", notice.content_sha256)
            assert notice.delivered_at is not None
            assert decision.created_at < notice.delivered_at <= now
    states = {n.state for n in notices.values()}
    assert {"delivered", "dead", "not_required"} <= states


def story_notice(reference: str) -> Notice:
    """The notice of a story account's one history decision."""
    return Notice.objects.get(account__reference=reference, decision__source="run")


def test_the_stories_show_each_outcome(demo):
    dead = story_notice("LD-CASE-A")
    assert (dead.kind, dead.state) == ("individual", "dead")
    assert dead.delivered_at is None and "503" in dead.last_error and dead.attempts > 1
    late = story_notice("LD-PARTIAL")
    assert late.delivered_at is not None and late.state == "delivered"
    assert late.delivered_at > late.due_by
    on_time = story_notice("LD-SALARY")
    assert on_time.delivered_at is not None and on_time.state == "delivered"
    assert on_time.delivered_at <= on_time.due_by
    assert on_time.language == "en"
    # Case B's closure for serious overdue is exempt: recorded, not required.
    closure = Account.objects.get(reference="LD-CASE-B").decisions.get(sequence=2)
    assert (closure.notice.kind, closure.notice.state) == ("exempt", "not_required")


def test_the_pages_show_the_notice(demo, client):
    from django.contrib.auth.models import User

    client.force_login(User.objects.get(username="alice"))
    late = story_notice("LD-PARTIAL")
    page = client.get(reverse("decisions:decision", args=[late.decision_id])).content.decode()
    assert "Notice to the customer" in page
    assert "delivered" in page and '<span class="badge bad">late</span>' in page
    assert late.content_sha256 in page
    assert late.due_by.strftime("%Y-%m-%d") in page

    dead = story_notice("LD-CASE-A")
    account_page = client.get(reverse("accounts:detail", args=["LD-CASE-A"])).content.decode()
    assert "Customer notice" in account_page and "failed (dead letter)" in account_page
    assert dead.last_error in account_page  # alice may open the notices

    bob = User.objects.get(username="bob")  # a handler: the state, not the error
    client.force_login(bob)
    handler_page = client.get(reverse("accounts:detail", args=["LD-CASE-A"])).content.decode()
    assert "failed (dead letter)" in handler_page and dead.last_error not in handler_page

    client.force_login(User.objects.get(username="alice"))
    raise_ = LimitDecision.objects.filter(action="raise").first()
    assert raise_ is not None
    page = client.get(reverse("decisions:decision", args=[raise_.pk])).content.decode()
    assert "Notice to the customer" not in page


def test_the_story_outcomes_are_known_words():
    for story in stories.STORY_ACCOUNTS:
        for step in story.history:
            assert step.notice in {"delivered", "late", "dead"}
