"""Why a background job (a re-scoring run, a simulation) stopped, in words a person
can act on. Pure: no ORM, no I/O (docs/architecture.md, "When a run fails").

A failure is kept on the job as a small record (`failure_record`): when, in which
phase and chunk, what kind of fault, and the technical error for staff who want it.
The page says the kind in plain words and offers Retry, which redoes only the chunks
that had not finished.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

DATABASE, QUEUE, TIMEOUT, DATA, PROGRAM = "database", "queue", "timeout", "data", "program"

PLAIN_WORDS: dict[str, Promise] = {
    DATABASE: _("The database could not be reached or closed the connection."),
    QUEUE: _("The task queue (Redis) could not be reached."),
    TIMEOUT: _("A chunk took longer than the time a task is allowed."),
    DATA: _("The database refused the data that was being written."),
    PROGRAM: _("An error in the program stopped it."),
}

PHASES: dict[str, Promise] = {"compute": _("scoring"), "apply": _("writing")}

# By exception class name, along the class's ancestry: the libraries that raise them
# (psycopg, Django, redis, kombu, billiard) are not imported into pure code.
_KINDS = {
    "OperationalError": DATABASE,
    "InterfaceError": DATABASE,
    "PoolTimeout": DATABASE,
    "DataError": DATA,
    "IntegrityError": DATA,
    "SoftTimeLimitExceeded": TIMEOUT,
    "TimeLimitExceeded": TIMEOUT,
    "RedisError": QUEUE,
    "KombuError": QUEUE,
}
_QUEUE_MODULES = ("redis", "kombu")


def failure_kind(error: BaseException) -> str:
    """One of DATABASE, QUEUE, TIMEOUT, DATA, PROGRAM."""
    for cls in type(error).__mro__:
        if cls.__module__.split(".")[0] in _QUEUE_MODULES and cls.__name__.endswith("Error"):
            return QUEUE
        if cls.__name__ in _KINDS:
            return _KINDS[cls.__name__]
    return PROGRAM


def technical(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:4000]


def failure_record(
    error: BaseException, *, phase: str, chunk: int | None, at: datetime
) -> dict[str, Any]:
    return {
        "at": at.isoformat(),
        "phase": phase,
        "chunk": chunk,
        "kind": failure_kind(error),
        "error": technical(error),
    }


def mark_retried(records: list[dict[str, Any]], *, by: str, at: datetime) -> list[dict[str, Any]]:
    """The records with the latest one marked as retried by `by` at `at`."""
    if not records:
        return []
    return [*records[:-1], {**records[-1], "retried_by": by, "retried_at": at.isoformat()}]


def plain_words(record: dict[str, Any]) -> Promise:
    return PLAIN_WORDS.get(record.get("kind", ""), PLAIN_WORDS[PROGRAM])


@dataclass(frozen=True)
class FailureView:
    at: datetime
    phase: str
    chunk: int | None
    plain: Promise
    technical: str
    retried_by: str
    retried_at: datetime | None

    @property
    def phase_label(self) -> Promise | str:
        return PHASES.get(self.phase, self.phase)


@dataclass(frozen=True)
class Failures:
    open: list[FailureView]  # since the last retry, newest first: why it is stopped now
    retried: list[FailureView]  # earlier stops that a person retried


def failures_of(records: list[dict[str, Any]]) -> Failures:
    views = [_view(record) for record in reversed(records)]
    return Failures(
        open=[view for view in views if not view.retried_by],
        retried=[view for view in views if view.retried_by],
    )


def _view(record: dict[str, Any]) -> FailureView:
    retried_at = record.get("retried_at")
    return FailureView(
        at=datetime.fromisoformat(record["at"]),
        phase=record.get("phase", ""),
        chunk=record.get("chunk"),
        plain=plain_words(record),
        technical=record.get("error", ""),
        retried_by=record.get("retried_by", ""),
        retried_at=datetime.fromisoformat(retried_at) if retried_at else None,
    )
