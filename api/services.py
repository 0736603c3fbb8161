"""Writes of the integration API: keys, the call log, signal events."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import permissions as perms
from accounts.access import may
from accounts.models import Account, AccountSignals
from accounts.signal_spec import parse_signals, range_problems
from api.models import KEY_PREFIX, ApiCall, ApiKey, SignalEvent, key_hash
from config.text import NAME_MAX, too_long
from decisions import signal_intake


class ApiKeyError(Exception):
    pass


def api_key_create(*, name: str, scopes: list[str], actor: Any) -> tuple[ApiKey, str]:
    """A new key for an integration; returns it with the key itself, shown only now."""
    if not may(actor, perms.MANAGE_INTEGRATIONS):
        raise ApiKeyError(_("Only an administrator creates API keys."))
    name = (name or "").strip()
    if not name:
        raise ApiKeyError(_("Name the integration."))
    if problem := too_long(name, NAME_MAX):
        raise ApiKeyError(problem)
    unknown = set(scopes) - set(ApiKey.Scope.values)
    if not scopes or unknown:
        raise ApiKeyError(
            _("Choose scopes from: %(scopes)s.") % {"scopes": ", ".join(ApiKey.Scope.values)}
        )
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    try:
        with transaction.atomic():
            created = ApiKey.objects.create(
                name=name,
                prefix=prefix,
                key_hash=key_hash(key),
                scopes=sorted(set(scopes)),
                created_by=actor,
            )
    except IntegrityError:
        raise ApiKeyError(
            _("An integration of that name has a live key already: revoke it first.")
        ) from None
    return created, key


def api_key_revoke(*, actor: Any, name: str = "", key_id: int | None = None) -> ApiKey:
    """Revoke a live key, named by its integration (the command) or by its id (the page:
    a page left open must not revoke a newer key of the same integration)."""
    if not may(actor, perms.MANAGE_INTEGRATIONS):
        raise ApiKeyError(_("Only an administrator revokes API keys."))
    with transaction.atomic():
        live = ApiKey.objects.select_for_update().filter(revoked_at__isnull=True)
        key = (
            live.filter(pk=key_id).first() if key_id is not None else live.filter(name=name).first()
        )
        if key is None:
            raise ApiKeyError(_("No live key for an integration of that name."))
        key.revoked_at, key.revoked_by = timezone.now(), actor
        key.save(update_fields=["revoked_at", "revoked_by"])
    return key


def api_call_record(
    *, key: ApiKey | None, method: str, path: str, status: int, milliseconds: int
) -> None:
    ApiCall.objects.create(
        key=key,
        key_name=key.name if key else "",
        method=method[:8],
        path=path[:300],
        status=status,
        milliseconds=milliseconds,
    )


@dataclass
class EventResult:
    event_id: str
    status: str  # applied | duplicate | stale | rejected
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Event:
    event_id: str
    account: str
    observed_at: datetime
    signals: dict[str, Any]


def signal_events_apply(*, key: ApiKey, events: list[Event]) -> list[EventResult]:
    """Apply a batch of signal events, each on its own: a bad one changes nothing
    and does not stop the others. Idempotent by event id; an event older than the
    signals on file changes nothing. Each account that changed is re-scored after
    commit.

    The batch's signal rows are locked first, in account order, so concurrent
    batches on the same accounts wait for each other instead of deadlocking; the
    events are then checked and applied in memory and written in bulk."""
    try:
        return _apply_batch(key, events)
    except IntegrityError:
        # An event id sent at the same moment in another batch, for another account:
        # once that batch has committed, this one sees it as a duplicate.
        return _apply_batch(key, events)


def _apply_batch(key: ApiKey, events: list[Event]) -> list[EventResult]:
    results: list[EventResult] = []
    with transaction.atomic():
        accounts = dict(
            Account.objects.filter(reference__in={e.account for e in events}).values_list(
                "reference", "id"
            )
        )
        on_file = {
            row.account_id: row
            for row in AccountSignals.objects.select_for_update()
            .filter(account_id__in=accounts.values())
            .order_by("account_id")
        }
        seen = set(
            SignalEvent.objects.filter(event_id__in=[e.event_id for e in events]).values_list(
                "event_id", flat=True
            )
        )
        changed: dict[int, set[str]] = {}
        taken: list[tuple[str, int, datetime, str]] = []
        for event in events:
            result = _check_event(event, accounts, on_file, seen)
            results.append(result)
            if result.status in {"applied", "stale"}:
                seen.add(event.event_id)
                account_id = accounts[event.account]
                outcome = SignalEvent.Outcome.APPLIED
                if result.status == "stale":
                    outcome = SignalEvent.Outcome.STALE
                taken.append((event.event_id, account_id, event.observed_at, outcome))
                if result.status == "applied":
                    changed.setdefault(account_id, set()).update(event.signals)
        _signals_write(on_file, changed)
        _events_record(taken, key)
    return results


def _events_record(taken: list[tuple[str, int, datetime, str]], key: ApiKey) -> None:
    """Record the events taken, in one INSERT (a unique event id makes a second
    batch with the same event fail, to be retried as a duplicate)."""
    if not taken:
        return
    event_ids, account_ids, observed, outcomes = (
        list(column) for column in zip(*taken, strict=True)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {SignalEvent._meta.db_table} "  # noqa: S608
            "(event_id, account_id, observed_at, outcome, key_id, received_at) "
            "SELECT e.*, %s, %s FROM unnest(%s::text[], %s::bigint[], %s::timestamptz[], "
            "%s::text[]) AS e",
            [key.pk, timezone.now(), event_ids, account_ids, observed, outcomes],
        )


def _signals_write(on_file: dict[int, AccountSignals], changed: dict[int, set[str]]) -> None:
    """Write the changed accounts' signals as the batch left them in memory, and ask
    for their re-scores."""
    if not changed:
        return
    names = sorted(set().union(*changed.values()))
    signal_intake.signals_update(
        names,
        [
            (
                account_id,
                on_file[account_id].observed_at,
                *(getattr(on_file[account_id], name) for name in names),
            )
            for account_id in sorted(changed)
        ],
    )


def _check_event(
    event: Event,
    accounts: dict[str, int],
    on_file: dict[int, AccountSignals],
    seen: set[str],
) -> EventResult:
    """Check one event against the signals on file (as the batch left them so far)
    and, when it is good and newer, apply it to them in memory."""
    if event.event_id in seen:
        return EventResult(event.event_id, "duplicate")
    values, errors = parse_signals(event.signals)
    if timezone.is_naive(event.observed_at):
        errors["observed_at"] = _("needs a time zone, e.g. 2026-11-25T08:00:00+08:00")
    elif event.observed_at > timezone.now() + timedelta(minutes=5):
        errors["observed_at"] = _("lies in the future")
    account_id = accounts.get(event.account)
    if account_id is None:
        errors["account"] = _("no account with this reference")
    elif account_id not in on_file:
        errors["account"] = _("no signals on file yet")
    if errors or account_id is None:
        return EventResult(event.event_id, "rejected", errors)
    current = on_file[account_id]
    if event.observed_at <= current.observed_at:
        return EventResult(event.event_id, "stale")
    problems = range_problems({**current.as_dict(), **values})
    if problems:
        return EventResult(event.event_id, "rejected", {k: str(v) for k, v in problems.items()})
    for name, value in values.items():
        setattr(current, name, value)
    current.observed_at = event.observed_at
    return EventResult(event.event_id, "applied")
