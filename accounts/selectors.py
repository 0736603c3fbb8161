"""Reads of the accounts app: querysets and small read models for pages."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import Reverse
from django.utils import timezone
from redis.exceptions import RedisError

from accounts import masking
from accounts.models import (
    Account,
    AccountNote,
    ContactLogEntry,
    PersonalDataReveal,
    PersonalDataSearch,
    SavedFilter,
)

PAGE_SIZE = 50


@dataclass(frozen=True)
class PortfolioFigures:
    accounts: int
    by_status: dict[str, int]
    by_band: dict[str, int]
    exposure: Decimal
    computed_at: datetime


PORTFOLIO_CACHE_KEY = "portfolio-figures"
PORTFOLIO_CACHE_SECONDS = 300  # beat refreshes it every minute


def portfolio_figures_compute() -> PortfolioFigures:
    """Accounts by status and band and the total open limit: one grouped scan."""
    rows = (
        Account.objects.values_list("status", "band")
        .annotate(n=Count("id"), limit=Sum("current_limit"))
        .order_by()
    )
    by_status = dict.fromkeys(Account.Status.values, 0)
    by_band = dict.fromkeys(Account.Band.values, 0)
    exposure = Decimal("0.00")
    for status, band, n, limit in rows:
        by_status[status] = by_status.get(status, 0) + n
        if band:
            by_band[band] = by_band.get(band, 0) + n
        if status == Account.Status.ACTIVE:
            exposure += limit or 0
    return PortfolioFigures(
        accounts=sum(by_status.values()),
        by_status=by_status,
        by_band=by_band,
        exposure=exposure,
        computed_at=timezone.now(),
    )


def portfolio_figures() -> PortfolioFigures:
    """The figures as the beat task last computed them (Redis cache); computed
    here when the cache is empty or Redis is away."""
    try:
        cached = cache.get(PORTFOLIO_CACHE_KEY)
    except RedisError:
        cached = None
    if isinstance(cached, PortfolioFigures):
        return cached
    figures = portfolio_figures_compute()
    with contextlib.suppress(RedisError):  # Redis away: pages still work
        cache.set(PORTFOLIO_CACHE_KEY, figures, PORTFOLIO_CACHE_SECONDS)
    return figures


@dataclass(frozen=True)
class BandScores:
    """How many accounts hold each score, per band (accounts with a score only), as
    counted at `computed_at`: at most 5 by 601 numbers, cached beside the portfolio
    figures so the account page reads a rank without counting a band of the book."""

    counts: dict[str, dict[int, int]]
    computed_at: datetime


BAND_SCORES_CACHE_KEY = "band-scores"


def band_scores_compute() -> BandScores:
    """One grouped scan of the (band, score) index."""
    counts: dict[str, dict[int, int]] = {}
    rows = (
        Account.objects.filter(score__isnull=False)
        .exclude(band="")
        .values_list("band", "score")
        .annotate(n=Count("id"))
        .order_by()
    )
    for band, score, n in rows:
        counts.setdefault(band, {})[score] = n
    return BandScores(counts=counts, computed_at=timezone.now())


def band_scores() -> BandScores:
    """The counts as the beat task last computed them; computed here when the cache is
    empty or Redis is away (as `portfolio_figures`)."""
    try:
        cached = cache.get(BAND_SCORES_CACHE_KEY)
    except RedisError:
        cached = None
    if isinstance(cached, BandScores):
        return cached
    found = band_scores_compute()
    with contextlib.suppress(RedisError):
        cache.set(BAND_SCORES_CACHE_KEY, found, PORTFOLIO_CACHE_SECONDS)
    return found


@dataclass(frozen=True)
class BandRank:
    """An account's score against the others of its band: `lower` of the `others` hold a
    strictly lower score (a tie is not "higher than")."""

    band: str
    score: int
    lower: int
    others: int
    counted_at: datetime

    @property
    def percent(self) -> int:
        """The share of the others scoring lower, rounded down, so that "higher than N %"
        stays true."""
        return self.lower * 100 // self.others if self.others else 0


def band_rank(account: Account) -> BandRank | None:
    """Where the account's score stands in its band; None without a score or a band.
    The counts are a snapshot (`band_scores`): the account itself is taken out of its
    band's total when the snapshot holds an account at its band and score, so a
    re-score since the snapshot still compares it with the others only."""
    if account.score is None or not account.band:
        return None
    snapshot = band_scores()
    in_band = snapshot.counts.get(account.band, {})
    lower = sum(n for score, n in in_band.items() if score < account.score)
    total = sum(in_band.values())
    others = total - 1 if in_band.get(account.score, 0) > 0 else total
    return BandRank(account.band, account.score, lower, others, snapshot.computed_at)


@dataclass(frozen=True)
class AccountPage:
    accounts: list[Account]
    has_next: bool
    page: int


@dataclass(frozen=True)
class AccountFilters:
    query: str = ""
    band: str = ""
    status: str = ""
    changed_days: int | None = None
    reason: str = ""
    in_cooldown: bool = False
    sort: str = "reference"  # a key of SORTS


def _search_match(query: str) -> Q | None:
    """Reference prefix, or a phone (`masking.phone_search`): its last digits, a
    masked form such as 138****5678, or the whole number, matched exactly. Who may
    ask for more digits than the mask shows is the view's to decide.

    Both use an index: the reference with varchar_pattern_ops, the phone
    through the index on its reverse."""
    query = query.strip().replace(" ", "")
    if not query:
        return None
    phone = masking.phone_search(query)
    if phone is not None and not query.isdigit():  # masked, 138****5678
        match = Q(phone_reversed__startswith=phone.suffix[::-1])
        return match & Q(phone__startswith=phone.prefix) if phone.prefix else match
    match = _reference_prefix(query.upper())
    if phone is not None and phone.kind == masking.PhoneQuery.FULL:
        match |= Q(phone_reversed__startswith=query[::-1], phone=query)
    elif phone is not None:
        match |= Q(phone_reversed__startswith=query[::-1])
    return match


def _reference_prefix(prefix: str) -> Q:
    """References starting with `prefix`, also written as a range so that the
    reference index, walked in order, serves it: the database collates byte-wise
    (C.UTF-8), where a LIKE prefix alone cannot use an ordered index. The LIKE
    keeps the match exact under any collation."""
    following = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return Q(reference__gte=prefix, reference__lt=following, reference__startswith=prefix)


# The list's sorts: the ORM order (each matches an index of Account, tie-breaker
# included) and the same order in SQL over the columns of SORT_COLUMNS.
SORTS: dict[str, tuple[tuple[Any, ...], str]] = {
    "reference": (("reference",), "m.reference"),
    "-limit": (("-current_limit", "-id"), "m.current_limit DESC, m.id DESC"),
    "limit": (("current_limit", "id"), "m.current_limit, m.id"),
    "-score": (("-score", "-id"), "m.score DESC, m.id DESC"),
    "score": (("score", "id"), "m.score, m.id"),
    "-changed": (
        (F("limit_changed_at").desc(nulls_last=True), "-id"),
        "m.limit_changed_at DESC NULLS LAST, m.id DESC",
    ),
}
SORT_COLUMNS = ("id", "reference", "current_limit", "score", "limit_changed_at")
# Filters the planner expects to match at most this many accounts are read
# filter-first and sorted; broader ones are read along the sort's index, where
# a page turns up at once. Cool-down (closed lines, few) is always filter-first.
FILTER_FIRST_UP_TO = 150_000


def account_search(filters: AccountFilters, *, page: int = 1) -> AccountPage:
    """One page of accounts matching the search and filters.

    Pages by offset without a COUNT: fetch one row more to know whether a next
    page exists, so a keystroke never counts a million rows.
    """
    accounts = _filtered(filters)
    page = max(page, 1)
    start = (page - 1) * PAGE_SIZE
    filtered = bool(
        filters.band
        or filters.status
        or filters.changed_days
        or filters.reason
        or filters.in_cooldown
        or filters.query.strip().isdigit()
    )
    if filtered and (filters.in_cooldown or _estimated_rows(accounts) <= FILTER_FIRST_UP_TO):
        ids = _page_ids_filter_first(accounts, filters.sort, start)
        found = Account.objects.only(*LIST_FIELDS).in_bulk(ids)
        rows = [found[pk] for pk in ids if pk in found]
    else:
        order, _sql = SORTS[filters.sort]
        rows = list(accounts.order_by(*order).only(*LIST_FIELDS)[start : start + PAGE_SIZE + 1])
    return AccountPage(accounts=rows[:PAGE_SIZE], has_next=len(rows) > PAGE_SIZE, page=page)


def _filtered(filters: AccountFilters) -> QuerySet[Account]:
    """The accounts matching the search and filters, unordered."""
    accounts: QuerySet[Account] = Account.objects.annotate(phone_reversed=Reverse("phone"))
    match = _search_match(filters.query)
    if match is not None:
        accounts = accounts.filter(match)
    if filters.band:
        accounts = accounts.filter(band=filters.band)
    if filters.status:
        accounts = accounts.filter(status=filters.status)
    now = timezone.now()
    if filters.changed_days:
        accounts = accounts.filter(limit_changed_at__gte=now - timedelta(days=filters.changed_days))
    if filters.reason:
        accounts = accounts.filter(last_reasons__contains=[filters.reason])
    if filters.in_cooldown:
        accounts = accounts.filter(cooldown_until__gt=now)
    return accounts


# An export reads this many rows per round trip, through a server-side cursor, and
# at most EXPORT_MAX_ROWS rows: a web worker gives up on a request after 30 s.
EXPORT_CHUNK = 2000
EXPORT_MAX_ROWS = 200_000
EXPORT_FIELDS = (
    "reference",
    "full_name",
    "phone",
    "status",
    "band",
    "score",
    "current_limit",
    "limit_changed_at",
    "cooldown_until",
    "last_reasons",
)


def account_export_rows(filters: AccountFilters) -> Iterator[tuple[Any, ...]]:
    """Every account matching the filters, in the list's order, as tuples of
    EXPORT_FIELDS: read EXPORT_CHUNK at a time through a server-side cursor, so any
    number streams in flat memory. Unmasked: the caller masks (docs/architecture.md,
    "Lists")."""
    order, _sql = SORTS[filters.sort]
    rows = _filtered(filters).order_by(*order).values_list(*EXPORT_FIELDS)
    return _streamed(rows[:EXPORT_MAX_ROWS])


def _streamed(rows: QuerySet[Any, Any]) -> Iterator[tuple[Any, ...]]:
    """The rows through a server-side cursor inside a transaction of its own: outside
    one, PostgreSQL would compute the whole result before the first row (a cursor WITH
    HOLD). A download stopped early ends the transaction when the generator closes."""
    with transaction.atomic():
        yield from rows.iterator(chunk_size=EXPORT_CHUNK)


@dataclass(frozen=True)
class AccountCount:
    number: int
    estimated: bool  # the planner's estimate, rounded: "about 1,230,000"


# Up to this many matches are counted exactly (reading at most one more row);
# beyond, and whenever the planner expects more than COUNT_ESTIMATE_ABOVE, the
# list says "about" the planner's estimate, so no keystroke counts a million rows.
COUNT_EXACT_UP_TO = 10_000
COUNT_ESTIMATE_ABOVE = 100_000


def account_count(filters: AccountFilters, shown: AccountPage) -> AccountCount:
    """How many accounts match: exact when few, else the planner's estimate. When
    `shown` (the page on screen) is the last page, its rows tell the count: no query."""
    if not shown.has_next and (shown.accounts or shown.page == 1):
        return AccountCount(
            number=(shown.page - 1) * PAGE_SIZE + len(shown.accounts), estimated=False
        )
    accounts = _filtered(filters)
    estimate = _estimated_rows(accounts)
    if estimate <= COUNT_ESTIMATE_ABOVE:
        capped = accounts.order_by().values("id")[: COUNT_EXACT_UP_TO + 1].count()
        if capped <= COUNT_EXACT_UP_TO:
            return AccountCount(number=capped, estimated=False)
    return AccountCount(number=_rounded(max(estimate, COUNT_EXACT_UP_TO + 1)), estimated=True)


def _rounded(estimate: float) -> int:
    """Three significant figures: 1,234,567 → 1,230,000."""
    number = int(estimate)
    digits = len(str(number))
    step = 10 ** max(digits - 3, 0)
    return round(number / step) * step


def _estimated_rows(accounts: QuerySet[Account]) -> float:
    """The planner's estimate of how many accounts match (EXPLAIN: no rows read)."""
    plan = json.loads(accounts.order_by().values("id").explain(format="json"))
    return float(plan[0]["Plan"]["Plan Rows"])


def _page_ids_filter_first(accounts: QuerySet[Account], sort: str, start: int) -> list[int]:
    """One page of ids: every match read through the filters' own indexes, then
    sorted. `OFFSET 0` keeps PostgreSQL from flattening the subquery into a
    walk along the sort's index, which is slow when the matches sit at its far
    end (band E at the top of a limit sort, closed lines at 0)."""
    _order, order_sql = SORTS[sort]
    inner, params = accounts.order_by().values(*SORT_COLUMNS).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT m.id FROM ({inner} OFFSET 0) AS m ORDER BY {order_sql} LIMIT %s OFFSET %s",  # noqa: S608 - the ORDER BY comes from SORTS, values are parameters
            [*params, PAGE_SIZE + 1, start],
        )
        return [row[0] for row in cursor.fetchall()]


LIST_FIELDS = (
    "reference",
    "full_name",
    "phone",
    "status",
    "band",
    "score",
    "current_limit",
    "limit_changed_at",
    "last_reasons",
    "cooldown_until",
)


def account_with_signals(reference: str) -> Account | None:
    return Account.objects.select_related("signals").filter(reference=reference).first()


CONTACTS_SHOWN = 20


def account_contacts(
    account_id: int, *, limit: int | None = CONTACTS_SHOWN
) -> list[ContactLogEntry]:
    """The account's contact log, newest first (index contact_account_recent)."""
    entries = (
        ContactLogEntry.objects.filter(account_id=account_id)
        .select_related("author")
        .order_by("-at", "-id")
    )
    return list(entries if limit is None else entries[:limit])


def account_notes(account_id: int, *, limit: int = 50) -> list[AccountNote]:
    return list(
        AccountNote.objects.filter(account_id=account_id)
        .select_related("author")
        .order_by("-created_at")[:limit]
    )


def users_with_permission(codename: str) -> QuerySet[User]:
    """Active users whose role grants the accounts permission `codename`, by username."""
    return (
        User.objects.filter(is_active=True, groups__permissions__codename=codename)
        .distinct()
        .order_by("username")
    )


def personal_data_searches(*, limit: int = 100) -> list[PersonalDataSearch]:
    """Searches that read more of a phone than the mask shows, newest first."""
    return list(PersonalDataSearch.objects.select_related("user").order_by("-searched_at")[:limit])


def user_changes(*, limit: int = 100) -> list[LogEntry]:
    """Changes to users and their roles made in Django's admin, newest first."""
    return list(LogEntry.objects.select_related("user", "content_type")[:limit])


@dataclass(frozen=True)
class RevealFilters:
    """The audit page's filters of the reveals; the days are whole UTC days, both
    included (docs/architecture.md, "Lists")."""

    username: str = ""
    reference: str = ""  # a prefix of the account's reference
    since: date | None = None
    until: date | None = None


def _reveals(filters: RevealFilters) -> QuerySet[PersonalDataReveal]:
    reveals = PersonalDataReveal.objects.all()
    if filters.username:
        reveals = reveals.filter(user__username=filters.username)
    if filters.reference:
        reveals = reveals.filter(account__reference__startswith=filters.reference.strip().upper())
    if filters.since:
        reveals = reveals.filter(revealed_at__gte=datetime.combine(filters.since, time.min, UTC))
    if filters.until:
        end = datetime.combine(filters.until + timedelta(days=1), time.min, UTC)
        reveals = reveals.filter(revealed_at__lt=end)
    return reveals


def personal_data_reveals(
    filters: RevealFilters | None = None, *, limit: int = 100
) -> list[PersonalDataReveal]:
    """The reveals matching the filters, newest first, at most `limit`."""
    return list(
        _reveals(filters or RevealFilters())
        .select_related("user", "account")
        .order_by("-revealed_at", "-id")[:limit]
    )


def personal_data_reveal_rows(filters: RevealFilters) -> Iterator[tuple[Any, ...]]:
    """Every reveal matching the filters, newest first, as (revealed_at, username,
    reference, purpose): read through a server-side cursor, for the CSV export."""
    return _streamed(
        _reveals(filters)
        .order_by("-revealed_at", "-id")
        .values_list("revealed_at", "user__username", "account__reference", "purpose")[
            :EXPORT_MAX_ROWS
        ]
    )


def reveal_people() -> list[str]:
    """The usernames of everyone who has revealed personal data, for the filter."""
    return list(
        User.objects.filter(pk__in=PersonalDataReveal.objects.values("user_id"))
        .order_by("username")
        .values_list("username", flat=True)
    )


def saved_filters(user: Any, page: str) -> list[SavedFilter]:
    """The person's saved filters of a list page, by name (docs/architecture.md, "Lists")."""
    if user is None or not user.is_authenticated:
        return []
    return list(SavedFilter.objects.filter(user=user, page=page).order_by("name"))
