"""The account page for someone on a call with the customer: the actions near the top
(the appeal intake among them), the score and limit over time, the score's rank in its
band, and the contact log (docs/architecture.md, "The account page on a call")."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from accounts import selectors, services
from accounts.models import Account, ContactLogEntry
from appeals.models import Appeal
from decisions import selectors as decision_selectors
from decisions.models import LimitDecision
from decisions.services import Change, decisions_write
from tests.base import BaseTestCase, ensure_reference_data, make_account

_keys = iter(range(1, 10**9))


def decide(account: Account, *, at: datetime, limit: str, score: int) -> LimitDecision:
    """A hand-set decision on `account` dated `at` (decisions_write's demo-history hook)."""
    account.refresh_from_db()
    key = f"test-call-{next(_keys)}"
    decisions_write(
        [
            Change(
                account_id=account.pk,
                action=LimitDecision.Action.SET,
                source=LimitDecision.Source.OVERRIDE,
                new_limit=Decimal(limit),
                new_status=account.status,
                reasons=("MANUAL_OVERRIDE",),
                idempotency_key=key,
                expected_version=account.version,
                justification="Agreed on the phone with the customer.",
                score_after=score,
                band_after=account.band,
            )
        ],
        cooldown_days=0,
        at=at,
    )
    account.refresh_from_db()
    return LimitDecision.objects.get(idempotency_key=key)


def page(client, account: Account, query: str = "") -> str:
    response = client.get(reverse("accounts:detail", args=[account.reference]) + query)
    assert response.status_code == 200
    return response.content.decode()


def quick_actions(body: str) -> str:
    """The quick-actions section of a page, or "" when the page has none."""
    found = re.search(r'<section class="card quick-actions".*?</section>', body, re.S)
    return found.group(0) if found else ""


# --------------------------------------------------------------------------
# The appeal intake among the actions


class IntakeAmongTheActionsTests(BaseTestCase):
    account: Account
    first: LimitDecision
    second: LimitDecision

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        ensure_reference_data()
        cls.account = make_account(current_limit=Decimal("8000.00"), score=640, band="C")
        start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        cls.first = decide(cls.account, at=start, limit="6000.00", score=630)
        cls.second = decide(cls.account, at=start + timedelta(days=60), limit="3000.00", score=590)

    def test_a_handler_and_a_lead_find_the_intake_at_the_top_contesting_the_decision_shown(self):
        for person in (self.bob, self.carol):
            self.client.force_login(person)
            body = page(self.client, self.account)
            actions = quick_actions(body)
            assert "Record an appeal for a caller" in actions
            intake = reverse("appeals:intake", args=[self.account.reference])
            assert f'action="{intake}"' in actions
            assert f'name="decision" value="{self.second.pk}"' in actions
            assert "Contests decision #2, the latest." in actions
            # Above the explanation, the history and the appeals: near the top.
            assert body.index("Record an appeal for a caller") < body.index('id="why"')
            assert body.index("Record an appeal for a caller") < body.index(
                "Appeals on this account"
            )
            # Once only: it left the appeals section.
            assert body.count("Record an appeal for a caller") == 1

    def test_the_intake_contests_the_older_decision_the_page_explains(self):
        self.client.force_login(self.bob)
        actions = quick_actions(page(self.client, self.account, f"?decision={self.first.pk}"))
        assert f'name="decision" value="{self.first.pk}"' in actions
        assert "Contests decision #1, the one this page explains." in actions

    def test_the_prefilled_intake_records_an_appeal_on_that_decision(self):
        self.client.force_login(self.bob)
        actions = quick_actions(page(self.client, self.account, f"?decision={self.first.pk}"))
        found = re.search(r'name="decision" value="(\d+)"', actions)
        assert found is not None
        decision = found.group(1)
        response = self.client.post(
            reverse("appeals:intake", args=[self.account.reference]),
            {
                "channel": "hotline",
                "category": "misjudged",
                "statement": "I was never late; please look again.",
                "priority": "2",
                "decision": decision,
            },
            follow=True,
        )
        appeal = Appeal.objects.get()
        self.assertContains(response, f"Appeal #{appeal.pk} recorded.")
        assert appeal.decision == self.first and appeal.account == self.account

    def test_an_analyst_has_the_other_actions_but_no_intake(self):
        self.client.force_login(self.alice)
        actions = quick_actions(page(self.client, self.account))
        assert "Record an appeal for a caller" not in actions
        assert "Log a call, message or letter" in actions
        assert "Add a note" in actions
        assert "Override, freeze or re-score" in actions

    def test_a_handler_is_not_offered_the_analysts_actions(self):
        self.client.force_login(self.bob)
        actions = quick_actions(page(self.client, self.account))
        assert "Log a call, message or letter" in actions
        assert "Override, freeze or re-score" not in actions

    def test_an_auditor_and_a_policy_admin_have_no_actions_to_take(self):
        for person in (self.frank, self.dave):
            self.client.force_login(person)
            body = page(self.client, self.account)
            assert quick_actions(body) == ""
            assert "Record an appeal for a caller" not in body
            assert "Log the contact" not in body

    def test_an_account_without_decisions_offers_an_intake_that_contests_none(self):
        account = make_account()
        self.client.force_login(self.bob)
        actions = quick_actions(page(self.client, account))
        assert "Record an appeal for a caller" in actions
        assert 'name="decision"' not in actions
        assert "contests no particular decision" in actions


# --------------------------------------------------------------------------
# Score and limit over time


class TrendTests(BaseTestCase):
    account: Account
    times: list[datetime]
    decisions: list[LimitDecision]

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        ensure_reference_data()
        cls.account = make_account(current_limit=Decimal("10000.00"), score=700, band="B")
        cls.times = [
            datetime(2025, 1, 10, 8, 0, tzinfo=UTC),
            datetime(2025, 1, 20, 8, 0, tzinfo=UTC),  # ten days later
            datetime(2025, 9, 1, 12, 30, tzinfo=UTC),  # months later
        ]
        cls.decisions = [
            decide(cls.account, at=cls.times[0], limit="8000.00", score=660),
            decide(cls.account, at=cls.times[1], limit="6000.00", score=610),
            decide(cls.account, at=cls.times[2], limit="9000.00", score=720),
        ]

    def test_the_points_are_the_figures_before_then_after_each_decision_in_time_order(self):
        points = decision_selectors.score_limit_trend(self.account.pk)
        assert [(p.at, p.score, p.limit, p.action) for p in points] == [
            (self.times[0], 700, Decimal("10000.00"), ""),
            (self.times[0], 660, Decimal("8000.00"), "set"),
            (self.times[1], 610, Decimal("6000.00"), "set"),
            (self.times[2], 720, Decimal("9000.00"), "set"),
        ]

    def test_only_the_latest_decisions_are_read(self):
        assert decision_selectors.TREND_DECISIONS == 200
        points = decision_selectors.score_limit_trend(self.account.pk, limit=2)
        # The figures before the older of the two, then after each.
        assert [(p.at, p.score, p.limit) for p in points] == [
            (self.times[1], 660, Decimal("8000.00")),
            (self.times[1], 610, Decimal("6000.00")),
            (self.times[2], 720, Decimal("9000.00")),
        ]

    def test_the_chart_spaces_the_points_by_time_and_runs_on_to_now(self):
        self.client.force_login(self.alice)
        body = page(self.client, self.account)
        data = re.search(r'<script id="history-data" type="application/json">(.*?)</script>', body)
        assert data is not None
        chart = json.loads(data.group(1))
        assert chart["kind"] == "time"
        limit_series, score = chart["series"]
        assert (limit_series["axis"], score["axis"]) == ("money", "score")
        limit = limit_series["data"]
        ms = [int(t.timestamp() * 1000) for t in self.times]
        assert [p["x"] for p in limit[:-1]] == [ms[0], ms[0], ms[1], ms[2]]
        assert [p["y"] for p in limit[:-1]] == [10000.0, 8000.0, 6000.0, 9000.0]
        assert [p["y"] for p in score["data"][:-1]] == [700, 660, 610, 720]
        # Ten days, then seven months and more: drawn that far apart.
        assert limit[2]["x"] - limit[1]["x"] == 10 * 86_400_000
        assert (
            limit[3]["x"] - limit[2]["x"]
            == int((self.times[2] - self.times[1]).total_seconds()) * 1000
        )
        # On to now with the account's figures now.
        assert limit[-1]["y"] == 9000.0 and score["data"][-1]["y"] == 720
        assert limit[-1]["x"] >= ms[2] and limit[-1]["x"] <= timezone.now().timestamp() * 1000

    def test_the_table_has_the_same_figures(self):
        self.client.force_login(self.alice)
        body = page(self.client, self.account)
        assert "Score and limit over time" in body
        rows = re.findall(
            r"<tr><td>([\d\- :]+)</td><td>(\w+)</td>"
            r'<td class="num">(\d+)</td><td class="num">([^<]+)</td></tr>',
            body,
        )
        assert rows == [
            ("2025-01-10 08:00", "before", "700", "¥10,000.00"),
            ("2025-01-10 08:00", "set", "660", "¥8,000.00"),
            ("2025-01-20 08:00", "set", "610", "¥6,000.00"),
            ("2025-09-01 12:30", "set", "720", "¥9,000.00"),
        ]


# --------------------------------------------------------------------------
# The score's rank within its band


def ranked(account: Account) -> selectors.BandRank:
    rank = selectors.band_rank(account)
    assert rank is not None
    return rank


def hand_rank(book: list[tuple[int, str, int | None]], me: int) -> tuple[int, int]:
    """(lower, others) counted by hand: of the other scored accounts in my band, those
    scoring strictly lower."""
    _pk, band, score = next(row for row in book if row[0] == me)
    assert score is not None
    others = [s for pk, b, s in book if b == band and s is not None and pk != me]
    return sum(1 for s in others if s < score), len(others)


class BandRankTests(BaseTestCase):
    c: dict[int, Account]
    c_tie: Account
    c_top_tie: Account
    d_alone: Account
    unscored: Account

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.c = {
            score_: make_account(band="C", score=score_)
            for score_ in (500, 520, 550, 600, 612, 700)
        }
        cls.c_tie = make_account(band="C", score=550)  # ties with one at 550
        cls.c_top_tie = make_account(band="C", score=700)
        cls.d_alone = make_account(band="D", score=480)
        cls.unscored = make_account(band="C", score=None)

    def book(self) -> list[tuple[int, str, int | None]]:
        return list(Account.objects.values_list("pk", "band", "score"))

    def test_the_page_says_how_many_in_the_band_score_lower_as_a_hand_count_does(self):
        account = self.c[612]
        lower, others = hand_rank(self.book(), account.pk)
        # The same by the database's own count, apart from the code under test.
        assert lower == Account.objects.filter(band="C", score__lt=612).count() == 5
        assert others == Account.objects.filter(band="C", score__isnull=False).count() - 1 == 7
        self.client.force_login(self.bob)
        body = page(self.client, account)
        # 5 of 7 is 71.4 %: rounded down, so "higher than" stays true.
        assert "Score 612 — higher than 71 % of the other accounts in band C." in body
        assert "5 of the 7 other scored accounts in the band score lower" in body

    def test_a_tie_is_not_counted_as_lower(self):
        for account in (self.c[550], self.c_tie):
            rank = ranked(account)
            assert (rank.lower, rank.others) == hand_rank(self.book(), account.pk) == (2, 7)
            assert rank.percent == 28  # 2 of 7 = 28.6 %
        top = ranked(self.c_top_tie)
        assert (top.lower, top.others) == (6, 7) and top.percent == 85

    def test_the_lowest_is_higher_than_none(self):
        rank = ranked(self.c[500])
        assert (rank.lower, rank.others, rank.percent) == (0, 7, 0)

    def test_the_only_account_of_a_band_is_said_to_be_alone_not_ranked(self):
        rank = ranked(self.d_alone)
        assert (rank.lower, rank.others) == hand_rank(self.book(), self.d_alone.pk) == (0, 0)
        self.client.force_login(self.alice)
        body = page(self.client, self.d_alone)
        assert "Score 480 — the only scored account in band D." in body
        assert "higher than" not in body

    def test_an_account_without_a_score_gets_no_rank(self):
        assert selectors.band_rank(self.unscored) is None
        self.client.force_login(self.alice)
        assert 'id="band-rank"' not in page(self.client, self.unscored)

    def test_every_account_of_a_random_book_matches_the_hand_count(self):
        rng = random.Random(20261203)
        for _ in range(120):
            make_account(band=rng.choice("ABCDE"), score=rng.choice([rng.randint(350, 950), 600]))
        cache.delete(selectors.BAND_SCORES_CACHE_KEY)
        book = self.book()
        for account in Account.objects.exclude(score__isnull=True):
            rank = ranked(account)
            lower, others = hand_rank(book, account.pk)
            assert (rank.lower, rank.others) == (lower, others), account.reference
            if others:
                assert rank.percent <= 100 * lower / others < rank.percent + 1

    def test_the_page_reads_the_counts_from_the_cache_the_beat_task_refreshes(self):
        services.portfolio_figures_refresh()
        account = self.c[612]
        with self.assertNumQueries(0):
            rank = ranked(account)
        assert (rank.lower, rank.others) == (5, 7)
        # A new account is counted from the next refresh on.
        make_account(band="C", score=400)
        assert ranked(account).others == 7
        services.portfolio_figures_refresh()
        assert (ranked(account).lower, ranked(account).others) == (6, 8)

    def test_the_counts_are_one_grouped_read_of_the_band_score_index(self):
        with connection.cursor() as cursor:
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'account_band_score'")
            assert "(band, score, id)" in cursor.fetchone()[0]


# --------------------------------------------------------------------------
# The contact log


class ContactLogServiceTests(BaseTestCase):
    account: Account

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.account = make_account()

    def add(self, **fields: Any) -> ContactLogEntry:
        values: dict[str, Any] = {
            "account": self.account,
            "author": self.bob,
            "channel": "call",
            "direction": "in",
            "summary": "Asked why the limit went down; explained the overdue payment.",
        }
        values.update(fields)
        return services.contact_log_add(**values)

    def test_a_contact_is_logged_with_who_and_when(self):
        before = timezone.now()
        entry = self.add(summary="  Called about the cut.  ")
        assert entry.summary == "Called about the cut."
        assert entry.author == self.bob and entry.account == self.account
        assert before <= entry.at <= timezone.now()
        earlier = timezone.now() - timedelta(days=2)
        assert self.add(channel="letter", direction="out", at=earlier).at == earlier

    def test_bad_input_is_refused_with_a_clear_message_and_nothing_logged(self):
        cases: list[tuple[dict[str, Any], str]] = [
            ({"summary": ""}, "Write what was said"),
            ({"summary": "   \n "}, "Write what was said"),
            ({"summary": "x" * 2001}, "Keep the summary to 2000 characters (it has 2001)"),
            ({"at": timezone.now() + timedelta(minutes=5)}, "cannot be in the future"),
            ({"at": datetime(2026, 1, 1, 9, 0)}, "with its time zone"),  # noqa: DTZ001
            ({"channel": "fax"}, "Choose how the contact happened"),
            ({"direction": "sideways"}, "Choose whether the customer contacted us"),
        ]
        for fields, message in cases:
            with self.assertRaisesMessage(services.ContactLogError, message):
                self.add(**fields)
        assert not ContactLogEntry.objects.exists()
        assert len(self.add(summary="x" * 2000).summary) == 2000
        assert len(self.add(summary="y").summary) == 1

    def test_only_staff_who_work_with_customers_may_log(self):
        for person in (self.alice, self.bob, self.carol):
            self.add(author=person)
        for person in (self.dave, self.frank):
            with self.assertRaises(PermissionError):
                self.add(author=person)
        assert ContactLogEntry.objects.count() == 3


class ContactLogPageTests(BaseTestCase):
    account: Account

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.account = make_account()

    def url(self) -> str:
        return reverse("accounts:contact", args=[self.account.reference])

    def test_a_handler_logs_a_call_and_sees_it_first_in_the_log(self):
        ContactLogEntry.objects.create(
            account=self.account,
            author=self.carol,
            channel="letter",
            direction="out",
            summary="Sent the notice of the cut.",
            at=timezone.now() - timedelta(days=3),
        )
        self.client.force_login(self.bob)
        response = self.client.post(
            self.url(),
            {"channel": "call", "direction": "in", "summary": "Customer called about the cut."},
            follow=True,
        )
        self.assertContains(response, "Contact logged.")
        body = response.content.decode()
        log = body[body.index('id="contacts"') :]
        assert log.index("Customer called about the cut.") < log.index(
            "Sent the notice of the cut."
        )
        assert "Call, from the customer · bob" in log
        assert "Letter, to the customer · carol" in log

    def test_with_htmx_the_form_comes_back_empty_and_the_log_is_swapped(self):
        self.client.force_login(self.alice)
        response = self.client.post(
            self.url(),
            {"channel": "message", "direction": "out", "summary": "Texted the repayment link."},
            headers={"HX-Request": "true"},
        )
        body = response.content.decode()
        assert response.status_code == 200
        assert 'id="contact-form"' in body and "Contact logged." in body
        assert 'id="contacts" aria-labelledby="contacts-heading" hx-swap-oob="true"' in body
        assert "Texted the repayment link." in body
        assert "<h1>" not in body  # a fragment, not the page

    def test_bad_input_comes_back_in_the_form_and_logs_nothing(self):
        self.client.force_login(self.bob)
        future = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
        for data, message in (
            ({"summary": " "}, "Write what was said (a summary)."),
            ({"summary": "Called.", "at": future}, "The contact cannot be in the future"),
            (
                {"summary": "Called.", "at": "yesterday"},
                "Give the date and time as YYYY-MM-DD HH:MM.",
            ),
            ({"summary": "x" * 2001}, "Keep the summary to 2000 characters"),
        ):
            fields = {"channel": "call", "direction": "in", **data}
            for headers in ({}, {"HX-Request": "true"}):
                response = self.client.post(self.url(), fields, headers=headers)
                assert response.status_code == 200
                self.assertContains(response, message)
                assert "hx-swap-oob" not in response.content.decode()
                if not headers:  # the whole page, the form open on its error
                    self.assertContains(response, 'id="contact-intake" open')
        assert not ContactLogEntry.objects.exists()

    def test_a_time_in_the_past_is_kept(self):
        self.client.force_login(self.bob)
        self.client.post(
            self.url(),
            {
                "channel": "call",
                "direction": "out",
                "summary": "Called back.",
                "at": "2026-11-30T10:15",
            },
        )
        assert ContactLogEntry.objects.get().at == datetime(2026, 11, 30, 10, 15, tzinfo=UTC)

    def test_roles_without_customer_work_cannot_log_nor_see_the_form(self):
        for person in (self.frank, self.dave):
            self.client.force_login(person)
            response = self.client.post(
                self.url(), {"channel": "call", "direction": "in", "summary": "Hello."}
            )
            assert response.status_code == 403
        assert not ContactLogEntry.objects.exists()
        self.client.force_login(self.frank)  # the auditor reads the log
        body = page(self.client, self.account)
        assert "Contacts with the customer" in body and "Log the contact" not in body

    def test_the_log_shows_the_latest_twenty_newest_first_and_all_on_request(self):
        now = timezone.now()
        for minutes in range(25):
            ContactLogEntry.objects.create(
                account=self.account,
                author=self.bob,
                channel="call",
                direction="in",
                summary=f"Call number {minutes:02d}.",
                at=now - timedelta(minutes=60 - minutes),  # number 24 is the newest
            )
        self.client.force_login(self.carol)
        body = page(self.client, self.account)
        shown = re.findall(r"Call number (\d\d)\.", body)
        assert shown == [f"{n:02d}" for n in range(24, 4, -1)]
        assert "Show all contacts" in body
        shown = re.findall(
            r"Call number (\d\d)\.", page(self.client, self.account, "?contacts=all")
        )
        assert shown == [f"{n:02d}" for n in range(24, -1, -1)]

    def test_the_log_has_no_way_to_change_an_entry(self):
        self.client.force_login(self.bob)
        self.client.post(self.url(), {"channel": "call", "direction": "in", "summary": "Hello."})
        for method in ("put", "patch", "delete", "get"):
            assert getattr(self.client, method)(self.url()).status_code == 405
        assert ContactLogEntry.objects.get().summary == "Hello."
