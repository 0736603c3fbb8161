"""The demo portfolio: a deterministic, realistic book of accounts. Pure (numpy), no ORM.

Shape of the book: most accounts healthy; a tail of late payers and seriously
overdue ones; multi-lender shoppers (seed "case A"); long high-utilization
users; a few linked-account and public-record problems. The story accounts
(case A, case B and the others the README names) are written out by hand below.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np

from accounts.signal_spec import SIGNALS

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"  # noqa: E501
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍建红文辉宇鹏飞欣怡浩然子涵梓轩雨桐思远佳琪晨曦一诺博文嘉怡俊杰梦瑶"  # noqa: E501
PHONE_PREFIXES = [
    "130",
    "131",
    "132",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "158",
    "159",
    "177",
    "180",
    "181",
    "186",
    "187",
    "188",
    "199",
]
REGION_CODES = ["110101", "310104", "440305", "330106", "510107", "420106", "320102", "370102"]
SEGMENTS = ["mass", "young", "affluent", "merchant", "student"]
SEGMENT_WEIGHTS = [0.52, 0.24, 0.10, 0.09, 0.05]
# Score band cut-offs of the demo book (the policy versions own them later).
BAND_CUTOFFS = [(750, "A"), (700, "B"), (650, "C"), (600, "D")]
BAND_LIMITS = {  # (low, high) range of the current limit per band, in yuan
    "A": (20_000, 80_000),
    "B": (10_000, 40_000),
    "C": (5_000, 20_000),
    "D": (2_000, 9_000),
    "E": (500, 3_000),
}
ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
ID_CHECK = "10X98765432"

ACCOUNT_COLUMNS = [
    "id",
    "reference",
    "full_name",
    "phone",
    "national_id",
    "segment",
    "status",
    "current_limit",
    "score",
    "band",
    "cooldown_until",
    "opened_at",
    "version",
    "updated_at",
    "good_cycles",
    "chain_head",
    "language",
]
SIGNAL_COLUMNS = ["account_id", *(spec.name for spec in SIGNALS), "observed_at"]


def band_for(score: int) -> str:
    for cutoff, band in BAND_CUTOFFS:
        if score >= cutoff:
            return band
    return "E"


def national_id(region: str, birth: datetime, sequence: int) -> str:
    """An 18-character resident ID with a valid check character (GB 11643)."""
    body = f"{region}{birth:%Y%m%d}{sequence % 1000:03d}"
    total = sum(int(digit) * weight for digit, weight in zip(body, ID_WEIGHTS, strict=True))
    return body + ID_CHECK[total % 11]


@dataclass(frozen=True)
class HistoryStep:
    """A past decision of a story account: when, and the signals it saw then."""

    days_ago: int
    signals: dict[str, Any]
    # None: whatever policy v1 proposes for those signals.
    new_limit: Decimal | None = None
    # What became of the customer notice a cut or closure owed (docs/architecture.md,
    # "Notices: the register"): delivered within the clock, delivered late, or dead.
    notice: str = "delivered"


@dataclass(frozen=True)
class StoryAppeal:
    """A decided appeal of a story account against its latest history decision: received
    and decided so many days ago; a restoration (`restored_limit`) is a decision of
    source "appeal" (docs/architecture.md, "Appeals as feedback")."""

    received_days_ago: int
    decided_days_ago: int
    category: str
    statement: str
    outcome: str  # appeals.models.Appeal.Outcome
    justification: str
    close_label: str
    restored_limit: Decimal | None = None


@dataclass(frozen=True)
class StoryAccount:
    """An account from the seeds, with the signals that tell its story."""

    reference: str
    story: str
    full_name: str
    segment: str
    status: str
    current_limit: Decimal
    score: int
    signals: dict[str, Any]
    cooldown_days: int | None = None
    tenure_months: int = 24
    # Consecutive good re-scoring cycles behind the account at load time.
    good_cycles: int = 0
    # The line as opened, and the decisions that brought it where it is now.
    opening_limit: Decimal | None = None
    history: tuple[HistoryStep, ...] = ()
    # Decided appeals against the history's latest decision, after it.
    appeals: tuple[StoryAppeal, ...] = ()
    # The customer's language: notices go out in it.
    language: str = "zh-hans"


HEALTHY: dict[str, Any] = {
    "days_past_due": 0,
    "overdue_count_12m": 0,
    "max_dpd_12m": 0,
    "on_time_ratio": Decimal("1.0000"),
    "lender_applications_30d": 0,
    "lender_applications_90d": 1,
    "external_debt_to_income": Decimal("0.3000"),
    "utilization": Decimal("0.3500"),
    "months_high_utilization": 0,
    "consumption_amount_90d": Decimal("9000.00"),
    "repayment_amount_90d": Decimal("8800.00"),
    "active_days_90d": 45,
    "phone_changes_90d": 0,
    "device_changes_90d": 0,
    "address_changes_90d": 0,
    "linked_bad_share": Decimal("0.0000"),
    "verified_monthly_income": None,
    "provident_fund_verified": False,
    "verified_assets": None,
    "bad_public_records": 0,
    "age": 31,
    "real_name_verified": True,
    "bank_card_bound": True,
}

STORY_ACCOUNTS = [
    StoryAccount(
        reference="LD-CASE-A",
        story=(
            "Case A: compared rates at many lenders in one month; score fell and the limit was cut."
        ),
        full_name="林晓雯",
        segment="young",
        status="active",
        current_limit=Decimal("3000.00"),
        score=515,
        tenure_months=30,
        # Twelve days ago, 14 applications in 30 days: the multi-lending cut, and
        # the score fell to band E, whose ceiling is 3,000.
        opening_limit=Decimal("8000.00"),
        # The notice of the cut never reached her: the messaging service refused it
        # until the outbox gave up (a dead letter a person can send again).
        history=(HistoryStep(12, {}, notice="dead"),),
        signals={
            **HEALTHY,
            "credit_score": 612,
            "lender_applications_30d": 14,
            "lender_applications_90d": 17,
            "external_debt_to_income": Decimal("0.9500"),
            "age": 27,
        },
    ),
    StoryAccount(
        reference="LD-CASE-B",
        story="Case B: overdue for months, line closed; repaid in full but still in cool-down.",
        full_name="周建国",
        segment="mass",
        status="closed",
        current_limit=Decimal("0.00"),
        score=538,
        cooldown_days=70,
        tenure_months=44,
        opening_limit=Decimal("15000.00"),
        history=(
            HistoryStep(
                150,
                {
                    "days_past_due": 15,
                    "max_dpd_12m": 15,
                    "overdue_count_12m": 1,
                    "utilization": Decimal("0.9500"),
                    "credit_score": 640,
                },
            ),
            HistoryStep(
                20,
                {
                    "days_past_due": 95,
                    "max_dpd_12m": 95,
                    "overdue_count_12m": 3,
                    "utilization": Decimal("1.0000"),
                    "credit_score": 560,
                },
            ),
        ),
        signals={
            **HEALTHY,
            "credit_score": 538,
            "days_past_due": 0,
            "overdue_count_12m": 3,
            "max_dpd_12m": 75,
            "on_time_ratio": Decimal("0.7100"),
            "utilization": Decimal("0.0000"),
            "consumption_amount_90d": Decimal("0.00"),
            "repayment_amount_90d": Decimal("18600.00"),
            "active_days_90d": 4,
            "age": 42,
        },
    ),
    StoryAccount(
        reference="LD-GRADUAL",
        story="Raised step by step over eight years of on-time repayment, from 50 to 100,000.",
        full_name="陈思远",
        segment="affluent",
        status="active",
        current_limit=Decimal("100000.00"),
        score=835,
        tenure_months=98,
        good_cycles=3,
        opening_limit=Decimal("50.00"),
        history=tuple(
            HistoryStep(days, {}, Decimal(limit))
            for days, limit in [
                (2700, 500),
                (2330, 2000),
                (1970, 5000),
                (1600, 10000),
                (1240, 20000),
                (880, 40000),
                (520, 60000),
                (280, 80000),
                (60, 100000),
            ]
        ),
        signals={
            **HEALTHY,
            "credit_score": 835,
            "lender_applications_90d": 0,
            "external_debt_to_income": Decimal("0.1200"),
            "utilization": Decimal("0.2200"),
            "consumption_amount_90d": Decimal("61000.00"),
            "repayment_amount_90d": Decimal("60500.00"),
            "active_days_90d": 78,
            "verified_monthly_income": Decimal("38000.00"),
            "provident_fund_verified": True,
            "verified_assets": Decimal("1200000.00"),
            "age": 36,
        },
    ),
    StoryAccount(
        reference="LD-REPAID-CLOSED",
        story=(
            "Seed 002: closed right after a full repayment; a court judgment was registered "
            "the same week and a linked account defaulted."
        ),
        full_name="赵敏",
        segment="merchant",
        status="closed",
        current_limit=Decimal("0.00"),
        score=574,
        cooldown_days=87,
        tenure_months=52,
        opening_limit=Decimal("23500.00"),
        history=(HistoryStep(3, {}),),
        signals={
            **HEALTHY,
            "credit_score": 574,
            "utilization": Decimal("0.0000"),
            "repayment_amount_90d": Decimal("23500.00"),
            "consumption_amount_90d": Decimal("2100.00"),
            "linked_bad_share": Decimal("0.5000"),
            "bad_public_records": 1,
            "age": 39,
        },
    ),
    StoryAccount(
        reference="LD-SALARY",
        story=(
            "A thin file: a bureau score dip put her in band D, whose 9,000 ceiling cut her "
            "line; her salary flow and provident-fund record put her back in band C."
        ),
        full_name="何欣怡",
        segment="young",
        status="active",
        current_limit=Decimal("9000.00"),
        score=615,
        tenure_months=20,
        opening_limit=Decimal("15000.00"),
        history=(HistoryStep(9, {}),),
        language="en",
        signals={
            **HEALTHY,
            "credit_score": 600,
            "utilization": Decimal("0.6200"),
            "active_days_90d": 20,
            "consumption_amount_90d": Decimal("3000.00"),
            "repayment_amount_90d": Decimal("2900.00"),
            "age": 26,
        },
    ),
]


# Appeals as feedback and decrease protection (docs/architecture.md): one appeal that
# restored part of a ceiling cut, one that upheld a multi-lending cut.
STORY_ACCOUNTS += [
    StoryAccount(
        reference="LD-PARTIAL",
        story=(
            "A bureau dip put him in band D, whose 9,000 ceiling cut his line; his appeal "
            "restored part of it, and score-based cuts leave it alone for a while."
        ),
        full_name="孙浩然",
        segment="mass",
        status="active",
        current_limit=Decimal("15000.00"),
        score=625,
        tenure_months=36,
        opening_limit=Decimal("20000.00"),
        # The notice of the cut went out after its 30 days: late, on the timeliness page.
        history=(HistoryStep(50, {}, notice="late"),),
        appeals=(
            StoryAppeal(
                received_days_ago=48,
                decided_days_ago=35,
                category="misjudged",
                statement="My bureau score dipped for a card I had already closed.",
                outcome="partial",
                justification="Closed card confirmed with the bureau; part of the line back.",
                close_label="misjudged",
                restored_limit=Decimal("15000.00"),
            ),
        ),
        signals={
            **HEALTHY,
            "credit_score": 605,
            "utilization": Decimal("0.6200"),
            "active_days_90d": 20,
            "consumption_amount_90d": Decimal("3000.00"),
            "repayment_amount_90d": Decimal("2900.00"),
            "age": 29,
        },
    ),
    StoryAccount(
        reference="LD-UPHELD",
        story="Applied at twelve lenders in a month; the cut was appealed and upheld.",
        full_name="郭梦瑶",
        segment="young",
        status="active",
        current_limit=Decimal("8400.00"),
        score=635,
        tenure_months=40,
        opening_limit=Decimal("12000.00"),
        history=(HistoryStep(20, {}),),
        appeals=(
            StoryAppeal(
                received_days_ago=18,
                decided_days_ago=10,
                category="reason",
                statement="Why was my limit cut when I pay on time?",
                outcome="upheld",
                justification="Twelve applications at other lenders in 30 days; the cut stands.",
                close_label="correct_cut",
            ),
        ),
        signals={
            **HEALTHY,
            "credit_score": 690,
            "lender_applications_30d": 12,
            "lender_applications_90d": 15,
            "age": 33,
        },
    ),
]


def generate_book(
    count: int, seed: int | list[int], now: datetime, first_id: int
) -> Iterator[tuple[tuple[Any, ...], tuple[Any, ...]]]:
    """Yield (account row, signals row) in ACCOUNT_COLUMNS / SIGNAL_COLUMNS order.

    The same count, seed and first id give the same rows, whatever the machine.
    A list seed (e.g. [seed, chunk number]) gives independent chunks of one book.
    """
    rng = np.random.default_rng(seed)
    n = count

    # Risk tiers: healthy, shopper (many lender applications), stressed
    # (high utilization for months), late (1-29 DPD), serious (30+ DPD),
    # public record. Most of the book is healthy.
    tiers = rng.choice(6, size=n, p=[0.80, 0.06, 0.06, 0.045, 0.025, 0.01])
    healthy, shopper, stressed, late, serious, record = (tiers == t for t in range(6))

    score = rng.normal(700, 55, n)
    score -= shopper * rng.uniform(40, 110, n)
    score -= stressed * rng.uniform(20, 80, n)
    score -= late * rng.uniform(50, 120, n)
    score -= serious * rng.uniform(120, 220, n)
    score -= record * rng.uniform(100, 200, n)
    score = np.clip(np.rint(score), 350, 950).astype(int)

    dpd = np.where(late, rng.integers(1, 30, n), 0)
    dpd = np.where(serious, rng.integers(30, 181, n), dpd)
    # Some of the serious cases have repaid since (case B's situation).
    repaid = serious & (rng.random(n) < 0.35)
    dpd = np.where(repaid, 0, dpd)
    max_dpd = np.where(serious, np.maximum(dpd, rng.integers(30, 181, n)), dpd)
    past_slip = healthy & (rng.random(n) < 0.08)
    max_dpd = np.where(past_slip, rng.integers(1, 10, n), max_dpd)
    overdue_count = np.where(max_dpd > 0, rng.integers(1, 4, n), 0)
    overdue_count = np.where(serious, rng.integers(2, 9, n), overdue_count)
    on_time = np.clip(1 - overdue_count * rng.uniform(0.02, 0.08, n), 0, 1)

    apps_30 = rng.poisson(0.4, n) + shopper * rng.integers(5, 20, n)
    apps_90 = apps_30 + rng.poisson(0.9, n) + shopper * rng.integers(0, 8, n)
    debt_to_income = np.clip(rng.lognormal(-1.2, 0.6, n) + shopper * 0.5, 0, 20)

    utilization = rng.beta(2, 5, n)
    utilization = np.where(stressed, rng.uniform(0.9, 1.0, n), utilization)
    months_high = np.where(stressed, rng.integers(2, 13, n), 0)

    tenure = rng.integers(1, 120, n)
    active_days = np.clip(rng.normal(35, 20, n), 0, 90).astype(int)
    consumption_cents = np.rint(rng.lognormal(8.6, 0.9, n) * 100).astype(np.int64)
    repayment_cents = np.rint(consumption_cents * rng.uniform(0.8, 1.05, n)).astype(np.int64)

    phone_changes = rng.poisson(0.05, n)
    device_changes = rng.poisson(0.25, n)
    address_changes = rng.poisson(0.08, n)
    linked_bad = np.where(rng.random(n) < 0.03, rng.uniform(0.1, 0.6, n), 0)

    has_income = rng.random(n) < 0.3
    income_cents = np.rint(rng.lognormal(9.3, 0.5, n) * 100).astype(np.int64)
    provident = rng.random(n) < 0.25
    has_assets = rng.random(n) < 0.08
    assets_cents = np.rint(rng.lognormal(12.5, 1.0, n) * 100).astype(np.int64)
    bad_records = np.where(record, rng.integers(1, 3, n), 0)
    age = np.clip(rng.normal(34, 9, n), 18, 75).astype(int)
    real_name = rng.random(n) >= 0.004
    card_bound = rng.random(n) >= 0.01

    segment = rng.choice(len(SEGMENTS), size=n, p=SEGMENT_WEIGHTS)
    closes = (dpd >= 90) | (bad_records > 0) | ~real_name | ~card_bound | repaid
    frozen = ~closes & (rng.random(n) < 0.003)
    closed_days_ago = rng.integers(1, 365, n)
    limit_draw = rng.random(n)

    surname_idx = rng.integers(0, len(SURNAMES), n)
    given_len = rng.integers(1, 3, n)
    given_idx = rng.integers(0, len(GIVEN), (n, 2))
    phone_prefix = rng.integers(0, len(PHONE_PREFIXES), n)
    phone_rest = rng.integers(0, 100_000_000, n)
    region = rng.integers(0, len(REGION_CODES), n)
    birth_offset = rng.integers(0, 365, n)
    # Drawn last, so the draws above give the same book as before: about a fifth of
    # the customers read their notices in English.
    english = rng.random(n) < 0.2

    for i in range(n):
        account_id = first_id + i
        band = band_for(int(score[i]))
        low, high = BAND_LIMITS[band]
        limit = Decimal(int((low + (high - low) * limit_draw[i]) // 100 * 100))
        status = "active"
        cooldown_until = None
        if closes[i]:
            status = "closed"
            limit = Decimal(0)
            cooldown_until = now + timedelta(days=int(180 - closed_days_ago[i]))
        elif frozen[i]:
            status = "frozen"
        opened_at = now - timedelta(days=int(tenure[i]) * 30)
        name = SURNAMES[surname_idx[i]] + "".join(GIVEN[j] for j in given_idx[i][: given_len[i]])
        birth = now - timedelta(days=int(age[i]) * 365 + int(birth_offset[i]))
        reference = f"LD{account_id:09d}"
        yield (
            (
                account_id,
                reference,
                name,
                f"{PHONE_PREFIXES[phone_prefix[i]]}{phone_rest[i]:08d}",
                national_id(REGION_CODES[region[i]], birth, account_id),
                SEGMENTS[segment[i]],
                status,
                f"{limit:.2f}",
                int(score[i]),
                band,
                cooldown_until,
                opened_at,
                1,
                now,
                0,
                "",
                "en" if english[i] else "zh-hans",
            ),
            (
                account_id,
                int(score[i]),
                int(dpd[i]),
                int(overdue_count[i]),
                int(max_dpd[i]),
                f"{on_time[i]:.4f}",
                int(apps_30[i]),
                int(apps_90[i]),
                f"{debt_to_income[i]:.4f}",
                f"{utilization[i]:.4f}",
                int(months_high[i]),
                f"{consumption_cents[i] / 100:.2f}",
                f"{repayment_cents[i] / 100:.2f}",
                int(active_days[i]),
                int(tenure[i]),
                int(phone_changes[i]),
                int(device_changes[i]),
                int(address_changes[i]),
                f"{linked_bad[i]:.4f}",
                f"{income_cents[i] / 100:.2f}" if has_income[i] else None,
                bool(provident[i]),
                f"{assets_cents[i] / 100:.2f}" if has_assets[i] else None,
                int(bad_records[i]),
                int(age[i]),
                bool(real_name[i]),
                bool(card_bound[i]),
                now,
            ),
        )
