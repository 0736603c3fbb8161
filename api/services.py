"""Writes of the integration API: keys, the call log, signal events."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Account, AccountSignals
from accounts.signal_spec import range_problems
from api import signals as signal_values
from api.models import ApiCall, ApiKey, SignalEvent

KEY_PREFIX = "ld"


class ApiKeyError(Exception):
    pass


def key_hash(key: str) -> str:
    # The key is 32 random bytes: a plain SHA-256 cannot be brute-forced.
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_create(*, name: str, scopes: list[str], actor: Any) -> tuple[ApiKey, str]:
    """A new key for an integration; returns it with the key itself, shown only now."""
    if not actor.is_superuser:
        raise ApiKeyError(_("Only an administrator creates API keys."))
    name = (name or "").strip()
    if not name:
        raise ApiKeyError(_("Name the integration."))
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
                name=name, prefix=prefix, key_hash=key_hash(key), scopes=sorted(set(scopes)),
                created_by=actor,
            )  # fmt: skip
    except IntegrityError:
        raise ApiKeyError(_("An integration of that name has a key already.")) from None
    return created, key


def api_key_revoke(*, name: str, actor: Any) -> ApiKey:
    if not actor.is_superuser:
        raise ApiKeyError(_("Only an administrator revokes API keys."))
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().filter(name=name).first()
        if key is None:
            raise ApiKeyError(_("No key for an integration of that name."))
        if key.revoked_at is None:
            key.revoked_at, key.revoked_by = timezone.now(), actor
            key.save(update_fields=["revoked_at", "revoked_by"])
    return key


def api_call_record(
    *, key: ApiKey | None, method: str, path: str, status: int, milliseconds: int
) -> None:
    ApiCall.objects.create(
        key=key, key_name=key.name if key else "", method=method[:8], path=path[:300],
        status=status, milliseconds=milliseconds,
    )  # fmt: skip


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
    commit."""
    results = []
    changed: set[int] = set()
    with transaction.atomic():
        for event in events:
            try:
                with transaction.atomic():
                    result = _apply_event(key, event, changed)
            except IntegrityError:
                # A second delivery racing the first: the unique event id caught it.
                result = EventResult(event.event_id, "duplicate")
            results.append(result)
        if changed:
            from decisions import tasks

            for account_id in sorted(changed):
                tasks.rescore_account.delay_on_commit(account_id)  # type: ignore[attr-defined]
    return results


def _apply_event(key: ApiKey, event: Event, changed: set[int]) -> EventResult:
    if SignalEvent.objects.filter(event_id=event.event_id).exists():
        return EventResult(event.event_id, "duplicate")
    values, errors = signal_values.parse_signals(event.signals)
    if timezone.is_naive(event.observed_at):
        errors["observed_at"] = _("needs a time zone, e.g. 2026-11-25T08:00:00+08:00")
    elif event.observed_at > timezone.now() + timedelta(minutes=5):
        errors["observed_at"] = _("lies in the future")
    found = Account.objects.filter(reference=event.account).values_list("id", flat=True).first()
    if found is None:
        errors["account"] = _("no account with this reference")
    if errors or found is None:
        return EventResult(event.event_id, "rejected", errors)
    account_id: int = found
    current = AccountSignals.objects.select_for_update().filter(account_id=account_id).first()
    if current is None:
        return EventResult(event.event_id, "rejected", {"account": _("no signals on file yet")})
    if event.observed_at <= current.observed_at:
        SignalEvent.objects.create(
            event_id=event.event_id, account_id=account_id, observed_at=event.observed_at,
            outcome=SignalEvent.Outcome.STALE, key=key,
        )  # fmt: skip
        return EventResult(event.event_id, "stale")
    merged = {**current.as_dict(), **values}
    problems = range_problems(merged)
    if problems:
        return EventResult(event.event_id, "rejected", {k: str(v) for k, v in problems.items()})
    for name, value in values.items():
        setattr(current, name, value)
    current.observed_at = event.observed_at
    current.save(update_fields=[*values, "observed_at"])
    SignalEvent.objects.create(
        event_id=event.event_id, account_id=account_id, observed_at=event.observed_at,
        outcome=SignalEvent.Outcome.APPLIED, key=key,
    )  # fmt: skip
    changed.add(account_id)
    return EventResult(event.event_id, "applied")
