"""Reads of the accounts app: querysets and small read models for pages."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum

from accounts.models import Account

PAGE_SIZE = 50


@dataclass(frozen=True)
class PortfolioFigures:
    accounts: int
    by_status: dict[str, int]
    by_band: dict[str, int]
    exposure: Decimal


def portfolio_figures() -> PortfolioFigures:
    """Accounts by status and band and the total open limit, in two queries."""
    statuses = dict(
        Account.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n")
    )
    bands = dict(
        Account.objects.exclude(band="")
        .values_list("band")
        .annotate(n=Count("id"))
        .values_list("band", "n")
    )
    exposure = Account.objects.filter(status=Account.Status.ACTIVE).aggregate(
        total=Sum("current_limit")
    )["total"]
    return PortfolioFigures(
        accounts=sum(statuses.values()),
        by_status={status: statuses.get(status, 0) for status in Account.Status.values},
        by_band={band: bands.get(band, 0) for band in Account.Band.values},
        exposure=exposure or Decimal("0.00"),
    )


@dataclass(frozen=True)
class AccountPage:
    accounts: list[Account]
    has_next: bool
    page: int


def account_search(*, query: str = "", page: int = 1) -> AccountPage:
    """Accounts whose reference starts with the query or whose phone ends with it.

    Pages by offset without a COUNT: fetch one row more to know whether a next
    page exists.
    """
    accounts: QuerySet[Account] = Account.objects.all()
    query = query.strip()
    if query:
        match = Q(reference__istartswith=query)
        if query.isdigit() and len(query) >= 4:
            match |= Q(phone__endswith=query)
        accounts = accounts.filter(match)
    page = max(page, 1)
    start = (page - 1) * PAGE_SIZE
    rows = list(accounts.order_by("reference")[start : start + PAGE_SIZE + 1])
    return AccountPage(accounts=rows[:PAGE_SIZE], has_next=len(rows) > PAGE_SIZE, page=page)


def account_with_signals(reference: str) -> Account | None:
    return Account.objects.select_related("signals").filter(reference=reference).first()
