"""Writes of the accounts app. Each runs in one transaction."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import transaction
from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import permissions as perms
from accounts import selectors
from accounts.access import LOG_CONTACTS, may
from accounts.models import (
    Account,
    AccountNote,
    ContactLogEntry,
    ListExport,
    PersonalDataReveal,
    PersonalDataSearch,
    SavedFilter,
)
from config.text import JUSTIFICATION_MAX, too_long


class RevealRefused(ValueError):
    pass


REVEAL_PURPOSE_MIN, REVEAL_PURPOSE_MAX = 5, 200


def personal_data_reveal(*, account: Account, user: Any, purpose: str) -> PersonalDataReveal:
    """Record that `user` is shown the account's unmasked name, phone and ID number,
    and why (`purpose`, 5 to 200 characters; RevealRefused otherwise, nothing logged
    and nothing to show)."""
    if not may(user, perms.REVEAL_PERSONAL_DATA):
        raise PermissionError("This role cannot see unmasked personal data.")
    purpose = " ".join((purpose or "").split())
    if len(purpose) < REVEAL_PURPOSE_MIN:
        raise RevealRefused(
            _("Say why you need the unmasked data (at least %(min)s characters).")
            % {"min": REVEAL_PURPOSE_MIN}
        )
    if problem := too_long(purpose, REVEAL_PURPOSE_MAX):
        raise RevealRefused(problem)
    with transaction.atomic(durable=True):
        return PersonalDataReveal.objects.create(account=account, user=user, purpose=purpose)


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
    # The account page's rank within a band reads these counts (accounts.selectors.band_rank).
    cache.set(
        selectors.BAND_SCORES_CACHE_KEY,
        selectors.band_scores_compute(),
        selectors.PORTFOLIO_CACHE_SECONDS,
    )
    return figures


class ContactLogError(ValueError):
    """Bad input for the contact log; `field` names the form field it is about."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


CONTACT_SUMMARY_MAX = 2000


def contact_log_add(
    *,
    account: Account,
    author: Any,
    channel: str,
    direction: str,
    summary: str,
    at: datetime | None = None,
) -> ContactLogEntry:
    """Log a call, message or letter with the customer. The log is append-only: an
    entry is never edited or deleted (docs/architecture.md, "The account page on a call")."""
    if not may(author, LOG_CONTACTS):
        raise PermissionError("This role cannot log contacts with customers.")
    if channel not in ContactLogEntry.Channel.values:
        raise ContactLogError(_("Choose how the contact happened."), field="channel")
    if direction not in ContactLogEntry.Direction.values:
        raise ContactLogError(
            _("Choose whether the customer contacted us or we contacted them."),
            field="direction",
        )
    summary = (summary or "").strip()
    if not summary:
        raise ContactLogError(_("Write what was said (a summary)."), field="summary")
    if len(summary) > CONTACT_SUMMARY_MAX:
        raise ContactLogError(
            _("Keep the summary to %(max)s characters (it has %(length)s).")
            % {"max": CONTACT_SUMMARY_MAX, "length": len(summary)},
            field="summary",
        )
    now = timezone.now()
    if at is None:
        at = now
    elif timezone.is_naive(at):
        raise ContactLogError(_("Give the time of the contact with its time zone."), field="at")
    elif at > now:
        raise ContactLogError(
            _("The contact cannot be in the future: give the time it happened."), field="at"
        )
    with transaction.atomic(durable=True):
        return ContactLogEntry.objects.create(
            account=account,
            author=author,
            channel=channel,
            direction=direction,
            summary=summary,
            at=at,
        )


# --------------------------------------------------------------------------
# Saved filters and list exports (docs/architecture.md, "Lists")

SAVED_FILTERS_PER_PAGE = 20
SAVED_FILTER_NAME_MAX = 60
# Who may keep filters of, and export, each list page.
LIST_PAGE_PERMISSIONS = {
    SavedFilter.Page.ACCOUNTS: perms.OPEN_ACCOUNTS,
    SavedFilter.Page.APPEALS: perms.OPEN_APPEALS,
    SavedFilter.Page.REVEALS: perms.OPEN_AUDIT,
}
QUERY_MAX = 1000


class SavedFilterError(ValueError):
    pass


def list_query(query: str) -> str:
    """A list page's query string as kept: without paging (`page`), the CSRF token or
    a leading "?", re-encoded. Raises SavedFilterError when it is too long."""
    params = QueryDict(query.lstrip("?"), mutable=True)
    for key in ("page", "csrfmiddlewaretoken"):
        params.pop(key, None)
    for key in list(params):
        if not any(value.strip() for value in params.getlist(key)):
            del params[key]  # an empty field filters nothing
    encoded = params.urlencode()
    if len(encoded) > QUERY_MAX:
        raise SavedFilterError(_("This filter is too long to save."))
    return encoded


def saved_filter_save(*, user: Any, page: str, name: str, query: str) -> SavedFilter:
    """Keep `query` (a list page's query string) under `name` for `user` and `page`;
    the same name replaces the filter kept under it. At most SAVED_FILTERS_PER_PAGE
    per person and page."""
    if page not in SavedFilter.Page.values:
        raise SavedFilterError(_("There is no such list to save a filter of."))
    if not may(user, LIST_PAGE_PERMISSIONS[SavedFilter.Page(page)]):
        raise PermissionError("This role cannot open that list.")
    name = " ".join((name or "").split())
    if not name:
        raise SavedFilterError(_("Give the filter a name."))
    if len(name) > SAVED_FILTER_NAME_MAX:
        raise SavedFilterError(
            _("Keep the name to %(max)s characters or fewer (it has %(count)s).")
            % {"max": SAVED_FILTER_NAME_MAX, "count": len(name)}
        )
    query = list_query(query or "")
    with transaction.atomic(durable=True):
        # One person's saves in turn: the count and the new row agree.
        User.objects.select_for_update().filter(pk=user.pk).first()
        existing = SavedFilter.objects.filter(user=user, page=page, name=name).first()
        if existing is not None:
            existing.query = query
            existing.created_at = timezone.now()
            existing.save(update_fields=["query", "created_at"])
            return existing
        if SavedFilter.objects.filter(user=user, page=page).count() >= SAVED_FILTERS_PER_PAGE:
            raise SavedFilterError(
                _(
                    "You already keep %(max)s filters of this list, the most there may be. "
                    "Delete one first, or save under the name of one to replace it."
                )
                % {"max": SAVED_FILTERS_PER_PAGE}
            )
        return SavedFilter.objects.create(user=user, page=page, name=name, query=query)


def saved_filter_delete(*, user: Any, filter_id: int) -> SavedFilter:
    """Delete one of the person's own saved filters; another's is not found
    (SavedFilter.DoesNotExist), so no one learns it exists."""
    with transaction.atomic(durable=True):
        saved = SavedFilter.objects.get(pk=filter_id, user=user)
        saved.delete()
        return saved


def list_export_record(*, user: Any, page: str, query: str, rows: int | None = None) -> ListExport:
    """Log a CSV export of a list page before its first row is sent, so an export the
    client stops reading is logged too; `rows` is filled by `list_export_finish`
    once every row is written, and stays empty when the download stopped early."""
    if page not in SavedFilter.Page.values:
        raise ValueError(f"No list page {page!r}.")
    try:
        kept = list_query(query)
    except SavedFilterError:
        kept = query[:QUERY_MAX]  # logged as far as it fits
    with transaction.atomic(durable=True):
        return ListExport.objects.create(user=user, page=page, query=kept, rows=rows)


def list_export_finish(*, export_id: int, rows: int) -> None:
    """Write how many rows an export sent, once it has sent them all."""
    with transaction.atomic(durable=True):
        ListExport.objects.filter(pk=export_id).update(rows=rows)
