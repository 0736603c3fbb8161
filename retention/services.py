"""Pruning: each category's records past their period removed in short batches, and a
row in the retention log for each (docs/architecture.md, "Retention").

The append-only logs (API calls, personal-data reveals and searches) lose rows only
through their owner's functions (migration retention/0002), which refuse a period
below the floor; the others are deleted here, oldest first, one batch per
transaction. Decisions, the audit chain and policy versions are not a category:
nothing here deletes them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.utils import timezone

from appeals.evidence_files import evidence_path
from appeals.models import Evidence
from retention import rules, selectors
from retention.models import RetentionPrune

logger = logging.getLogger(__name__)

# The owner's function that deletes one batch of an append-only log (retention/0002).
PRUNE_FUNCTIONS = {
    rules.API_CALLS: ("retention_prune_api_apicall",),
    rules.REVEALS: (
        "retention_prune_accounts_personaldatareveal",
        "retention_prune_accounts_personaldatasearch",
    ),
}


class RetentionMisconfigured(ImproperlyConfigured):
    """A retention setting below its floor, or not a positive number of days."""


@dataclass
class Pruned:
    """What one category lost (or, in a dry run, would lose)."""

    category: str
    days: int
    cutoff: datetime
    removed: int = 0
    files_removed: int = 0
    batches: int = 0
    started_at: datetime = field(default_factory=timezone.now)


def retention_prune(
    *, dry_run: bool = False, trigger: str = RetentionPrune.Trigger.COMMAND
) -> list[Pruned]:
    """Prune every category (or, with `dry_run`, count what would go and change
    nothing). Each category's result is logged in `RetentionPrune`, even when
    nothing was due; a category that fails is logged with what it removed before
    the fault, and the fault is raised after the other categories ran."""
    problems = selectors.configuration_problems()
    if problems:
        raise RetentionMisconfigured("; ".join(problems))
    batch = int(settings.RETENTION_BATCH_SIZE)
    results: list[Pruned] = []
    failure: BaseException | None = None
    for category in rules.CATEGORIES:
        now = timezone.now()
        done = Pruned(category, selectors.days_of(category), selectors.cutoff_of(category, now))
        results.append(done)
        if dry_run:
            done.removed = sum(rows.count() for rows in selectors.due(category, done.cutoff))
            continue
        try:
            _prune(done, batch)
        except Exception as error:  # logged below, raised after the others
            logger.exception("retention: pruning %s failed", category)
            failure = failure or error
        _log(done, trigger)
    if failure is not None:
        raise failure
    return results


def _prune(done: Pruned, batch: int) -> None:
    if done.category in PRUNE_FUNCTIONS:
        for function in PRUNE_FUNCTIONS[done.category]:
            while True:
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(f"SELECT {function}(%s, %s)", [done.days, batch])
                    removed = cursor.fetchone()[0]
                done.batches += 1
                done.removed += removed
                if removed < batch:
                    break
    elif done.category == rules.APPEAL_EVIDENCE:
        _prune_evidence(done, batch)
    else:
        for rows in selectors.due(done.category, done.cutoff):
            while True:
                with transaction.atomic():
                    ids = list(rows.values_list("id", flat=True)[:batch])
                    if ids:
                        rows.model.objects.filter(pk__in=ids).delete()
                done.batches += 1
                done.removed += len(ids)
                if len(ids) < batch:
                    break


def _prune_evidence(done: Pruned, batch: int) -> None:
    """Rows first, in a batch's transaction; their files once it committed (a file
    left by a crash between is an orphan nobody can open, never a row without its
    file)."""
    while True:
        with transaction.atomic():
            rows = list(
                selectors.closed_evidence(done.cutoff)
                .order_by("id")
                .select_for_update(of=("self",), skip_locked=True)
                .values_list("id", "stored_as")[:batch]
            )
            if rows:
                Evidence.objects.filter(pk__in=[pk for pk, _stored in rows]).delete()
        done.batches += 1
        done.removed += len(rows)
        for _pk, stored_as in rows:
            done.files_removed += _unlink(evidence_path(stored_as))
        if len(rows) < batch:
            break


def _unlink(path: Path) -> int:
    try:
        path.unlink()
    except FileNotFoundError:
        return 0
    return 1


def _log(done: Pruned, trigger: str) -> None:
    RetentionPrune.objects.create(
        category=done.category,
        days=done.days,
        cutoff=done.cutoff,
        removed=done.removed,
        files_removed=done.files_removed,
        batches=done.batches,
        trigger=trigger,
        started_at=done.started_at,
    )
