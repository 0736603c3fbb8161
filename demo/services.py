"""Loading the demo portfolio and its people: a generated book of accounts, the
story accounts with their histories, and one login per role (`make run`)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import connection, transaction
from django.utils import timezone

import scoring
from accounts import roles
from accounts.models import (
    Account,
    AccountSignals,
)
from appeals.models import Appeal, AppealEvent, HandlerProfile
from config import db
from decisions.models import LimitDecision, Notice
from decisions.services import Change, decisions_write, scoring_inputs
from demo import stories
from policies.models import Policy

COPY_CHUNK = 50_000
DEMO_PASSWORD = "limitdesk-demo"  # noqa: S105 - printed by `make run`; demo data only
DEMO_USERS: list[tuple[str, str, str, str]] = [
    ("alice", "Alice", "Analyst", roles.RISK_ANALYST),
    ("bob", "Bob", "Handler", roles.APPEAL_HANDLER),
    ("carol", "Carol", "Lead", roles.APPEAL_LEAD),
    ("dave", "Dave", "Policy", roles.POLICY_ADMIN),
    ("erin", "Erin", "Policy", roles.POLICY_ADMIN),
    ("frank", "Frank", "Auditor", roles.AUDITOR),
    # Second persons, for four-eyes: a held run that alice started, a large
    # restoration that carol proposed herself.
    ("greg", "Greg", "Analyst", roles.RISK_ANALYST),
    ("hana", "Hana", "Lead", roles.APPEAL_LEAD),
    ("admin", "Ada", "Admin", roles.ADMINISTRATOR),
]

# The demo's handlers in the rotation of new appeals: appeals recorded in `make run`
# go to bob, and a lead changes that on the Handlers page.
DEMO_HANDLERS = ("bob",)


class PortfolioNotEmpty(Exception):
    def __init__(self, count: int) -> None:
        super().__init__(
            f"The database already holds {count} accounts; "
            "pass --replace to delete them and load a new demo portfolio."
        )


@dataclass(frozen=True)
class DemoLoadResult:
    accounts: int
    seconds: float


def demo_users_ensure() -> list[User]:
    """Create (or reset) one demo user per role, all with DEMO_PASSWORD."""
    users = []
    with transaction.atomic():
        for username, first, last, role in DEMO_USERS:
            user, _created = User.objects.get_or_create(username=username)
            user.first_name, user.last_name = first, last
            user.email = f"{username}@limitdesk.example"
            user.set_password(DEMO_PASSWORD)
            # A role, never a superuser (docs/architecture.md, "Roles").
            user.is_superuser = False
            user.is_staff = role in roles.STAFF_ROLES
            user.save()
            user.groups.set([Group.objects.get(name=role)])
            users.append(user)
            if username in DEMO_HANDLERS:
                # In the round robin of new appeals (docs/architecture.md, "Queue
                # steering"); kept as a lead last set it.
                HandlerProfile.objects.get_or_create(user=user, defaults={"cap": 15})
    return users


def demo_portfolio_load(*, accounts: int, seed: int, replace: bool = False) -> DemoLoadResult:
    """Load `accounts` generated accounts plus the story accounts, with COPY.

    Refuses when accounts exist unless `replace`; all or nothing.
    """
    if accounts < 0:
        raise ValueError("The number of accounts cannot be negative.")
    started = timezone.now()
    now = started.replace(microsecond=0)
    with transaction.atomic(durable=True):
        existing = Account.objects.count()
        if existing and not replace:
            raise PortfolioNotEmpty(existing)
        with connection.cursor() as cursor:
            if existing:
                # Fire deferred foreign-key checks first: TRUNCATE refuses to run
                # while they are pending in the same transaction.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute(
                    "TRUNCATE accounts_accountsignals, accounts_account RESTART IDENTITY CASCADE"
                )
                # The portfolio's history goes with it: its snapshots are of the old
                # accounts (docs/architecture.md, "The demo's history").
                cursor.execute("TRUNCATE history_snapshot, history_accountsnapshot CASCADE")
            _copy_book(cursor, accounts, seed, now)
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('accounts_account', 'id'), "
                "(SELECT COALESCE(MAX(id), 0) + 1 FROM accounts_account), false)"
            )
        _create_story_accounts(now)
    elapsed = (timezone.now() - started).total_seconds()
    return DemoLoadResult(accounts=accounts + len(stories.STORY_ACCOUNTS), seconds=elapsed)


def _copy_book(cursor: Any, count: int, seed: int, now: datetime) -> None:
    """COPY the generated book in chunks, so memory stays flat for any size."""
    accounts_sql = f"COPY accounts_account ({', '.join(stories.ACCOUNT_COLUMNS)}) FROM STDIN"
    signals_sql = f"COPY accounts_accountsignals ({', '.join(stories.SIGNAL_COLUMNS)}) FROM STDIN"
    for chunk, start in enumerate(range(0, count, COPY_CHUNK)):
        size = min(COPY_CHUNK, count - start)
        rows = list(stories.generate_book(size, [seed, chunk], now, first_id=start + 1))
        # psycopg 3 COPY: rows stream to the server without building SQL text.
        with db.copy(cursor, accounts_sql) as copy:
            for account_row, _signals in rows:
                copy.write_row(account_row)
        with db.copy(cursor, signals_sql) as copy:
            for _account, signals_row in rows:
                copy.write_row(signals_row)


def _create_story_accounts(now: datetime) -> None:
    """The story accounts go through model validation, like any hand-made account,
    and their past decisions through the decision writer, dated when they happened."""
    for number, story in enumerate(stories.STORY_ACCOUNTS, start=1):
        opening = story.opening_limit if story.history else None
        account = Account(
            reference=story.reference,
            full_name=story.full_name,
            phone=f"1390000{number:04d}",
            national_id=stories.national_id("110101", now - timedelta(days=35 * 365), number),
            segment=story.segment,
            status="active" if opening is not None else story.status,
            current_limit=opening if opening is not None else story.current_limit,
            score=story.score,
            band=stories.band_for(story.score),
            cooldown_until=now + timedelta(days=story.cooldown_days)
            if story.cooldown_days and opening is None
            else None,
            opened_at=now - timedelta(days=story.tenure_months * 30),
            good_cycles=story.good_cycles,
            language=story.language,
        )
        account.full_clean()
        account.save()
        signals = AccountSignals(
            account=account, tenure_months=story.tenure_months, **story.signals, observed_at=now
        )
        signals.full_clean()
        signals.save()
        _write_story_history(account, story, now)


def _write_story_history(account: Account, story: stories.StoryAccount, now: datetime) -> None:
    if not story.history:
        return
    first = Policy.objects.get(version=1)
    rules = scoring.parse_policy(first.rules)
    compiled = scoring.compile_rules(rules)
    for step_number, step in enumerate(story.history, start=1):
        account.refresh_from_db()
        seen = {**story.signals, "tenure_months": story.tenure_months, **step.signals}
        outcome = scoring.evaluate(
            compiled,
            seen,
            limit=scoring.cents(account.current_limit),
            status=account.status,
            in_cooldown=False,
            good_cycles=rules.raise_good_cycles,
        )
        action, new_limit, reasons = outcome.action, outcome.new_limit_decimal, outcome.reasons
        if step.new_limit is not None:  # a raise under the product's rules of the time
            action, new_limit, reasons = scoring.RAISE, step.new_limit, (scoring.GOOD_HISTORY,)
        change = Change(
            account_id=account.pk,
            expected_version=account.version,
            action=action,
            source=LimitDecision.Source.RUN,
            new_limit=new_limit,
            new_status=outcome.new_status if step.new_limit is None else "active",
            reasons=reasons,
            score_after=outcome.score,
            band_after=outcome.band,
            contributions=outcome.contributions,
            triggers=outcome.triggers,
            inputs=scoring_inputs(seen),
            policy_id=first.pk,
            policy_version=first.version,
            idempotency_key=f"demo-history:{story.reference}:{step_number}",
        )
        decisions_write(
            [change], cooldown_days=rules.cooldown_days, at=now - timedelta(days=step.days_ago)
        )
        _story_notice_settle(change.idempotency_key, step.notice, now)
    for number, told in enumerate(story.appeals, start=1):
        _write_story_appeal(account, story, told, number, rules.cooldown_days, now)
    account.refresh_from_db()
    if (account.status, account.current_limit) != (story.status, story.current_limit):
        raise ValueError(
            f"the history of {story.reference} does not end where its story does: "
            f"{account.status} {account.current_limit}"
        )


DEMO_DELIVERY_ERROR = (
    "HTTP 503 Service Unavailable from the messaging service: upstream SMS gateway timed out (demo)"
)


def _story_notice_settle(decision_key: str, outcome: str, now: datetime) -> None:
    """What became of the notice a story decision owed (docs/architecture.md, "Notices:
    the register"): a story's past is past, so none of it waits for the outbox.

    `outcome`: "delivered" (two hours after the decision), "late" (three days after its
    due-by date) or "dead" (every attempt refused). The recorded SHA-256 is of a canonical
    JSON of the notice's fields, standing in for the content the outbox would send.
    """
    notice = (
        Notice.objects.select_related("account")
        .filter(decision__idempotency_key=decision_key, state=Notice.State.PENDING)
        .first()
    )
    if notice is None:  # owed none, or exempt / not required
        return
    if outcome == "dead":
        Notice.objects.filter(pk=notice.pk).update(
            state=Notice.State.DEAD,
            attempts=settings.NOTICE_MAX_ATTEMPTS,
            next_attempt_at=None,
            last_error=DEMO_DELIVERY_ERROR,
        )
        return
    if outcome not in {"delivered", "late"}:
        raise ValueError(f"unknown notice outcome {outcome!r}")
    late = notice.due_by + timedelta(days=3)
    delivered = (
        late if outcome == "late" and late <= now else notice.created_at + timedelta(hours=2)
    )
    body = {
        "idempotency_key": notice.idempotency_key,
        "account": notice.account.reference,
        "kind": notice.kind,
        "language": notice.language,
        "reasons": notice.reasons,
        "decided_at": notice.created_at.isoformat(),
        "due_by": notice.due_by.isoformat(),
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    Notice.objects.filter(pk=notice.pk).update(
        state=Notice.State.DELIVERED,
        attempts=1,
        next_attempt_at=None,
        delivered_at=min(delivered, now),
        content_sha256=hashlib.sha256(canonical.encode()).hexdigest(),
    )


def _write_story_appeal(
    account: Account,
    story: stories.StoryAccount,
    told: stories.StoryAppeal,
    number: int,
    cooldown_days: int,
    now: datetime,
) -> None:
    """A decided and closed appeal against the account's latest decision, dated when it
    happened; a restoration goes through the decision writer as an appeal's decision,
    which dates the account's decrease protection (docs/architecture.md, "Decrease
    protection")."""
    account.refresh_from_db()
    contested = account.decisions.order_by("-sequence").first()
    handler = User.objects.filter(username=DEMO_HANDLERS[0]).first()
    received = now - timedelta(days=told.received_days_ago)
    decided = now - timedelta(days=told.decided_days_ago)
    restoration = None
    if told.restored_limit is not None:
        key = f"demo-appeal:{story.reference}:{number}"
        decisions_write(
            [
                Change(
                    account_id=account.pk,
                    expected_version=account.version,
                    action=LimitDecision.Action.RESTORE,
                    source=LimitDecision.Source.APPEAL,
                    new_limit=told.restored_limit,
                    new_status="active",
                    reasons=("APPEAL_OUTCOME",),
                    justification=told.justification,
                    actor_id=handler.pk if handler else None,
                    idempotency_key=key,
                )
            ],
            cooldown_days=cooldown_days,
            at=decided,
        )
        restoration = LimitDecision.objects.get(idempotency_key=key)
    appeal = Appeal.objects.create(
        account=account,
        decision=contested,
        channel=Appeal.Channel.APP,
        category=told.category,
        statement=told.statement,
        assignee=handler,
        state=Appeal.State.CLOSED,
        sla_due=received + timedelta(days=5),
        outcome=told.outcome,
        outcome_limit=told.restored_limit,
        outcome_justification=told.justification,
        outcome_by=handler,
        outcome_decision=restoration,
        close_label=told.close_label,
        created_at=received,
        decided_at=decided,
    )
    steps = [
        ("received", "", Appeal.State.NEW, received),
        ("claim", Appeal.State.NEW, Appeal.State.IN_REVIEW, received + timedelta(hours=2)),
        ("decide", Appeal.State.IN_REVIEW, Appeal.State.DECIDED, decided),
        ("close", Appeal.State.DECIDED, Appeal.State.CLOSED, decided + timedelta(hours=1)),
    ]
    for move, before, after, at in steps:
        AppealEvent.objects.create(
            appeal=appeal,
            move=move,
            from_state=before,
            to_state=after,
            actor=handler,
            note=told.justification if move == "decide" else "",
            at=at,
        )
