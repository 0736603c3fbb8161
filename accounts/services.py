"""Writes of the accounts app. Each runs in one transaction."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import permissions as perms
from accounts import selectors
from accounts.access import may
from accounts.models import (
    Account,
    AccountNote,
    PersonalDataReveal,
    PersonalDataSearch,
)
from config.text import JUSTIFICATION_MAX, too_long


def personal_data_reveal(*, account: Account, user: Any) -> PersonalDataReveal:
    """Record that `user` is shown the account's unmasked name, phone and ID number."""
    if not may(user, perms.REVEAL_PERSONAL_DATA):
        raise PermissionError("This role cannot see unmasked personal data.")
    with transaction.atomic(durable=True):
        return PersonalDataReveal.objects.create(account=account, user=user)


class SearchRefused(ValueError):
    pass


def personal_data_search_record(*, user: Any, query: str, whole_number: bool) -> None:
    """Log a search that reads more of a phone than the mask shows. Digits beyond the
    mask need the reveal permission; whole numbers are open to anyone who may search
    accounts, PHONE_LOOKUPS_PER_HOUR an hour without that permission, so that no
    run of guesses recovers a number (docs/architecture.md, "Personal data")."""
    may_reveal = may(user, perms.REVEAL_PERSONAL_DATA)
    if not whole_number and not may_reveal:
        raise SearchRefused(_("Your role cannot search by part of a phone number."))
    with transaction.atomic(durable=True):
        if not may_reveal:
            # One person's searches in turn: the count and the new row agree.
            User.objects.select_for_update().filter(pk=user.pk).first()
            limit = settings.PHONE_LOOKUPS_PER_HOUR
            recent = PersonalDataSearch.objects.filter(
                user=user, searched_at__gte=timezone.now() - timedelta(hours=1)
            ).count()
            if recent >= limit:
                raise SearchRefused(
                    _(
                        "You looked up %(limit)s whole phone numbers in the last hour, the most "
                        "a role without the reveal permission may. Search by reference, or ask "
                        "an appeal handler."
                    )
                    % {"limit": limit}
                )
        PersonalDataSearch.objects.create(user=user, query=query, whole_number=whole_number)


class NoteError(ValueError):
    pass


def account_note_add(*, account: Account, author: Any, text: str) -> AccountNote:
    """Add a note to an account. Notes are kept as written; none is edited or deleted."""
    text = (text or "").strip()
    if len(text) < 3:
        raise NoteError(_("Write the note (at least 3 characters)."))
    if problem := too_long(text, JUSTIFICATION_MAX):
        raise NoteError(problem)
    return AccountNote.objects.create(account=account, author=author, text=text)


def portfolio_figures_refresh() -> selectors.PortfolioFigures:
    """Recompute the overview's portfolio figures into the cache (beat, every minute)."""
    figures = selectors.portfolio_figures_compute()
    cache.set(selectors.PORTFOLIO_CACHE_KEY, figures, selectors.PORTFOLIO_CACHE_SECONDS)
    return figures
