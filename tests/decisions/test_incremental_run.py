"""The incremental nightly run (docs/architecture.md, "The incremental nightly run"):
it scores only the accounts without a valid steady mark, and gives, account by
account and decision by decision, what scoring the whole book would give."""

import time
from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

import scoring
from accounts import roles
from accounts.book import load_chunk
from accounts.models import Account, AccountSignals
from decisions import chunks, overrides, runs, selectors, signal_intake, steady
from decisions.models import LimitDecision, RescoreRun, SteadyAccount
from policies.models import Policy
from tests.base import make_user, run_in_process

pytestmark = pytest.mark.django_db

COMPARED = ("action", "new_limit", "new_status", "score", "band", "good_cycles")


@pytest.fixture
def book(settings):
    settings.RESCORE_CHUNK_SIZE = 700
    settings.RESCORE_INCREMENTAL_CHUNK_SIZE = 1500
    settings.PORTFOLIO_SNAPSHOT_CADENCE = "monthly"
    call_command("seed_demo", "--accounts", "3000", "--seed", "11", verbosity=0)
    active = Policy.objects.get(state="active")
    active.rules = {
        **active.rules,
        "breaker_max_accounts_cut_pct": "100",
        "breaker_max_exposure_cut_pct": "100",
        "breaker_max_psi": "10",
    }
    active.save()


def reordered(rows, order):
    """These dataclass rows (ChunkInput or ChunkResult) in `order`."""
    return type(rows)(
        **{
            name: None if getattr(rows, name) is None else getattr(rows, name)[order]
            for name in rows.__dataclass_fields__
        }
    )


class Shadow:
    """Scores each chunk of an incremental run in full as well, at the same moment,
    and holds the run's arrays to it; keeps what the full scoring proposed."""

    def __init__(self, monkeypatch):
        self.proposed: dict[int, tuple[str, int]] = {}
        self.scored: set[int] = set()
        self.chunks = 0
        real = steady.score_incrementally

        def checked(compiled, policy_id, span, bands, now):
            given = real(compiled, policy_id, span, bands, now)
            # Held to a full scoring row by row: the run's rows in id order, as the
            # full scoring reads them.
            order = np.argsort(given[0].ids, kind="stable")
            data, result = reordered(given[0], order), reordered(given[1], order)
            scored = given[2][order]
            full_data = load_chunk(span[0], span[1], bands, now=now)
            full = scoring.score_chunk(compiled, full_data, cycle=True)
            assert np.array_equal(data.ids, full_data.ids)
            for name in COMPARED:
                mine, theirs = getattr(result, name), getattr(full, name)
                differ = data.ids[mine != theirs].tolist()[:20]
                assert not differ, f"{name} differs from a full scoring for accounts {differ}"
            moved = full.action != scoring.ACTION_CODES[scoring.KEEP]
            assert scored[moved].all(), "an account whose limit moves was not scored"
            assert np.array_equal(result.triggers[moved], full.triggers[moved])
            assert np.array_equal(result.points[moved], full.points[moved])
            for row in np.flatnonzero(moved):
                action = scoring.ACTIONS[int(full.action[row])]
                self.proposed[int(data.ids[row])] = (action, int(full.new_limit[row]))
            self.scored |= set(data.ids[scored].tolist())
            self.chunks += 1
            return given

        monkeypatch.setattr(steady, "score_incrementally", checked)

    def reset(self) -> None:
        self.proposed, self.scored, self.chunks = {}, set(), 0


def night() -> RescoreRun:
    run: RescoreRun = run_in_process(trigger="schedule")
    assert run.state == "done"
    return run


def written(run: RescoreRun) -> dict[int, tuple[str, int]]:
    return {
        account_id: (action, int(new_limit * 100))
        for account_id, action, new_limit in LimitDecision.objects.filter(run=run).values_list(
            "account_id", "action", "new_limit"
        )
    }


def signals_change(ids: list[int], **values) -> None:
    names = list(values)
    signal_intake.signals_update(
        names,
        [(pk, timezone.now(), *values.values()) for pk in ids],
        rescore=False,
    )


def test_nightly_runs_give_what_full_runs_give_decision_by_decision(book, monkeypatch, client):
    shadow = Shadow(monkeypatch)
    # Cool-downs and decrease protections that end between the second and third night.
    closed = list(
        Account.objects.filter(status="closed").order_by("pk").values_list("pk", flat=True)[:6]
    )
    Account.objects.filter(pk__in=closed).update(
        cooldown_until=timezone.now() + timedelta(seconds=6)
    )
    protection = scoring.parse_policy(Policy.objects.get(state="active").rules)
    restored = list(
        Account.objects.filter(status="active", band__in=["D", "E"])
        .order_by("-current_limit")
        .values_list("pk", flat=True)[:6]
    )
    Account.objects.filter(pk__in=restored).update(
        restored_at=timezone.now()
        - timedelta(days=protection.decrease_protection_days)
        + timedelta(seconds=6)
    )

    # The first run of the month writes its snapshot: it scores every account.
    first = night()
    assert not first.incremental and first.accounts_steady == 0
    assert shadow.chunks == 0
    marked = SteadyAccount.objects.count()
    assert marked > 2000  # the accounts it kept
    assert marked == Account.objects.count() - first.changed - first.skipped
    # Kept within a cool-down or a protection: the mark falls due when it ends.
    falling_due = dict(
        SteadyAccount.objects.filter(
            account_id__in=closed + restored, due_at__isnull=False
        ).values_list("account_id", "due_at")
    )
    assert falling_due
    assert all(
        due is not None and due <= timezone.now() + timedelta(seconds=6)
        for due in falling_due.values()
    )

    # One account in a hundred changes, good and bad; a person changes another.
    ids = list(Account.objects.order_by("pk").values_list("pk", flat=True))
    worse, better = ids[5::200], ids[105::200]
    signals_change(worse, lender_applications_30d=14, lender_applications_90d=20)
    signals_change(better, days_past_due=0, utilization=Decimal("0.2000"))
    alice = make_user("alice-steady", roles.RISK_ANALYST)
    by_hand = Account.objects.filter(status="active", current_limit__gte=1000).order_by("pk")[7]
    overrides.account_override_limit(
        account_id=by_hand.pk,
        expected_version=by_hand.version,
        new_limit=str(by_hand.current_limit - 100),
        actor=alice,
        justification="Customer asked for a lower line.",
    )

    second = night()
    assert second.incremental
    assert shadow.chunks == second.chunks_total
    assert second.accounts_done == len(ids)
    assert second.accounts_steady == len(ids) - len(shadow.scored)
    assert second.accounts_steady > len(ids) * 0.8
    assert set(worse) | set(better) | {by_hand.pk} <= shadow.scored
    assert written(second) == shadow.proposed
    assert any(action == "reduce" for action, _ in shadow.proposed.values())
    client.force_login(alice)
    page = client.get(reverse("decisions:run", args=[second.pk])).content.decode()
    assert (
        f"Nightly, incremental: {second.accounts_steady:,} accounts unchanged since they "
        "were last scored were advanced without scoring them again" in page
    )
    page = client.get(reverse("decisions:run", args=[first.pk])).content.decode()
    assert "incremental" not in page

    # The cool-downs and protections end: those accounts are scored again.
    time.sleep(max(0.0, 6.5 - (timezone.now() - first.created_at).total_seconds()))
    shadow.reset()
    third = night()
    assert third.incremental
    assert set(falling_due) <= shadow.scored
    assert written(third) == shadow.proposed

    # Nights go on: good cycles reach the policy's three, and raises and reopenings follow.
    actions: set[str] = set()
    for _ in range(3):
        shadow.reset()
        run = night()
        assert written(run) == shadow.proposed
        actions |= {action for action, _ in shadow.proposed.values()}
    assert "raise" in actions


def test_a_change_to_the_signals_takes_the_mark_away_whoever_writes_them(book):
    night()
    account_id = SteadyAccount.objects.order_by("pk").values_list("account_id", flat=True)[0]
    signals_change([account_id], age=40)
    assert not SteadyAccount.objects.filter(account_id=account_id).exists()

    other = SteadyAccount.objects.order_by("pk").values_list("account_id", flat=True)[0]
    with connection.cursor() as cursor:  # a script, past the app's services
        cursor.execute(
            "UPDATE accounts_accountsignals SET tenure_months = tenure_months "
            "WHERE account_id = %s",
            [other],
        )
    assert not SteadyAccount.objects.filter(account_id=other).exists()


def test_signals_changed_between_scoring_and_writing_leave_no_mark(book):
    SteadyAccount.objects.all().delete()
    run = runs.run_start(trigger="button")
    for index in run.chunks.values_list("index", flat=True):
        chunks.run_compute_chunk(run_id=run.pk, index=index)
    kept = list(
        Account.objects.filter(status="frozen").order_by("pk").values_list("pk", flat=True)[:3]
    )
    assert kept
    AccountSignals.objects.filter(account_id__in=kept).update(on_time_ratio=Decimal("0.5"))
    for index in run.chunks.values_list("index", flat=True):
        chunks.run_apply_chunk(run_id=run.pk, index=index)
    assert SteadyAccount.objects.count() > 2000
    assert not SteadyAccount.objects.filter(account_id__in=kept).exists()


def test_a_new_policy_version_scores_every_account_again(book):
    night()
    assert SteadyAccount.objects.exists()
    active = Policy.objects.get(state="active")
    Policy.objects.filter(pk=active.pk).update(state="retired", retired_at=timezone.now())
    successor = Policy.objects.create(
        version=active.version + 1,
        rules=active.rules,
        state="active",
        rationale="The same thresholds, activated again.",
        activated_at=timezone.now(),
    )
    run = night()
    assert run.incremental and run.policy_id == successor.pk
    assert run.accounts_steady == 0
    assert SteadyAccount.objects.filter(policy=successor).count() > 2000


def test_a_book_mostly_marked_is_read_in_larger_chunks_and_one_not_marked_is_not(book):
    first = night()  # the month's snapshot: every account scored, in small chunks
    assert not first.incremental and first.chunks_total == 5  # 3,007 ids in 700s
    marked = night()
    assert marked.incremental and marked.chunks_total == 3  # in 1,500s
    assert marked.accounts_total == 3007 and marked.accounts_done == 3007

    SteadyAccount.objects.filter(account_id__gt=1000).delete()  # two thirds unmarked
    few = night()
    assert few.incremental and few.chunks_total == 5
    assert few.accounts_steady < 1000


def test_a_held_incremental_run_shows_what_it_would_do(book):
    night()  # every account scored and the kept ones marked
    active_ids = Account.objects.filter(status="active").order_by("pk").values_list("pk", flat=True)
    signals_change(list(active_ids)[::50], lender_applications_30d=14, lender_applications_90d=20)
    active = Policy.objects.get(state="active")
    active.rules = {**active.rules, "breaker_max_accounts_cut_pct": "0"}
    active.save()
    run = runs.run_start(trigger="schedule")
    for index in run.chunks.values_list("index", flat=True):
        chunks.run_compute_chunk(run_id=run.pk, index=index)
    run.refresh_from_db()
    assert run.state == "waiting" and run.incremental and run.accounts_steady > 2000
    # The stored results list only what would be written; the preview still
    # counts every proposal and finds the largest cuts.
    preview = selectors.run_preview(run)
    by_action = {row.action: row.accounts for row in preview.actions}
    assert by_action["reduce"] == run.reduced > 0
    assert by_action["raise"] == run.raised
    cuts = preview.largest_cuts
    assert cuts and all(cut.new_limit < cut.old_limit for cut in cuts)


def test_only_the_nightly_run_is_incremental(book, settings):
    night()  # the month's snapshot
    person = runs.run_start(trigger="button")
    assert not person.incremental
    RescoreRun.objects.filter(pk=person.pk).update(state="discarded")
    settings.RESCORE_INCREMENTAL = False
    scheduled = runs.run_start(trigger="schedule")
    assert not scheduled.incremental
