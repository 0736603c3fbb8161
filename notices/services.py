"""The outbox: customer notices delivered to the messaging service's webhook, and a
dead letter sent again by a person (docs/architecture.md, "Notices: the outbox and the
receiver")."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts import permissions as perms
from accounts.access import may
from config import queue
from decisions import explanations
from decisions.models import Notice, ReasonCode
from notices import content, selectors, webhook
from notices.models import NoticeRetry

logger = logging.getLogger(__name__)

DELIVER_TASK = "notices.tasks.deliver_notices"
# A claimed notice is left alone by other deliverers this long: longer than a batch
# can take (its requests time out after NOTICE_TIMEOUT_SECONDS). A deliverer that died
# with it leaves it to be claimed again then; the key makes the repeat harmless.
CLAIM_SECONDS = 300

_CLAIM_SQL = """
    UPDATE decisions_notice AS n
    SET attempts = n.attempts + 1, next_attempt_at = %(lease)s
    WHERE n.id IN (
        SELECT id FROM decisions_notice
        WHERE state IN ('pending', 'retrying')
          AND (next_attempt_at IS NULL OR next_attempt_at <= %(now)s)
        ORDER BY id
        LIMIT %(size)s
        FOR UPDATE SKIP LOCKED
    )
    RETURNING n.id
"""


# What became of a batch, one statement (a CASE per column, as bulk_update writes, costs
# a millisecond a row).
_RECORD_SQL = """
    UPDATE decisions_notice AS n
    SET state = v.state, delivered_at = v.delivered_at, content_sha256 = v.sha,
        next_attempt_at = v.next_at, last_error = v.error
    FROM unnest(%s::bigint[], %s::text[], %s::timestamptz[], %s::text[], %s::timestamptz[],
                %s::text[]) AS v(id, state, delivered_at, sha, next_at, error)
    WHERE n.id = v.id
"""


class NoticeError(Exception):
    """A refusal to show the person; nothing was changed."""


@dataclass
class DeliveryTally:
    delivered: int = 0
    retrying: int = 0
    dead: int = 0

    @property
    def sent(self) -> int:
        return self.delivered + self.retrying + self.dead


def claim_due(*, size: int, now: datetime) -> list[int]:
    """Take up to `size` notices due for delivery: each counts an attempt and is held
    back from other deliverers for CLAIM_SECONDS. One short transaction; rows another
    deliverer holds are skipped, not waited for."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            _CLAIM_SQL,
            {"lease": now + timedelta(seconds=CLAIM_SECONDS), "now": now, "size": size},
        )
        return sorted(row[0] for row in cursor.fetchall())


def notice_content(notice: Notice, catalogue: dict[str, ReasonCode]) -> bytes:
    """The notice's body: its decision, and the reasons in the customer's words and
    language (the texts and figures the account page's customer notice shows)."""
    decision = notice.decision
    codes = [
        reason if isinstance(reason, str) else str(reason.get("code", ""))
        for reason in (notice.reasons or decision.reasons)
    ]
    language = notice.language or "zh-hans"
    with translation.override(language):
        rows = {row.code: row for row in explanations.reason_rows(decision, catalogue, language)}
        extra = [code for code in codes if code not in rows]
        if extra:
            rows.update(
                (row.code, row)
                for row in explanations.explained_reasons(
                    extra,
                    catalogue,
                    language,
                    rules=None,
                    triggers=(),
                    inputs={},
                    old_limit=decision.old_limit,
                    band=decision.band_after,
                )
            )
    reasons = [
        content.NoticeReason(
            code=code,
            text=rows[code].customer,
            facts=rows[code].facts,
            suggestion=rows[code].suggestion,
        )
        for code in codes
    ]
    return content.notice_body(
        account=notice.account.reference,
        decision_id=decision.pk,
        action=decision.action,
        old_limit=decision.old_limit,
        new_limit=decision.new_limit,
        reasons=reasons,
        decided_at=decision.created_at,
        due_by=notice.due_by,
        idempotency_key=notice.idempotency_key,
        language=language,
        kind=notice.kind,
    )


def _catalogue(notices: Iterable[Notice]) -> dict[str, ReasonCode]:
    codes: set[str] = set()
    for notice in notices:
        for reason in (notice.reasons or []) + list(notice.decision.reasons or []):
            codes.add(reason if isinstance(reason, str) else str(reason.get("code", "")))
    return explanations.reason_catalogue(sorted(codes))


def _record(
    notices: list[Notice], bodies: list[bytes], outcomes: list[webhook.Outcome], *, now: datetime
) -> DeliveryTally:
    """Write what became of each notice of a batch, in one transaction."""
    tally = DeliveryTally()
    for notice, body, outcome in zip(notices, bodies, outcomes, strict=True):
        if outcome.verdict == webhook.DELIVERED:
            notice.state = Notice.State.DELIVERED
            notice.delivered_at = now
            notice.content_sha256 = content.sha256(body)
            notice.next_attempt_at = None
            notice.last_error = ""
            tally.delivered += 1
        elif outcome.verdict == webhook.RETRY and notice.attempts < settings.NOTICE_MAX_ATTEMPTS:
            notice.state = Notice.State.RETRYING
            notice.next_attempt_at = now + timedelta(
                seconds=webhook.backoff_seconds(
                    notice.attempts,
                    base=settings.NOTICE_RETRY_BASE_SECONDS,
                    cap=settings.NOTICE_RETRY_MAX_SECONDS,
                )
            )
            notice.last_error = outcome.error
            tally.retrying += 1
        else:
            notice.state = Notice.State.DEAD
            notice.next_attempt_at = None
            notice.last_error = outcome.error
            if outcome.verdict == webhook.RETRY:
                # A technical record, like the error itself: not translated.
                notice.last_error = f"{outcome.error} (gave up after {notice.attempts} attempts)"
            tally.dead += 1
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            _RECORD_SQL,
            [
                [notice.pk for notice in notices],
                [notice.state for notice in notices],
                [notice.delivered_at for notice in notices],
                [notice.content_sha256 for notice in notices],
                [notice.next_attempt_at for notice in notices],
                [notice.last_error for notice in notices],
            ],
        )
    return tally


def deliver_due(
    *, batch_size: int | None = None, now: datetime | None = None, max_batches: int | None = None
) -> DeliveryTally:
    """Deliver every notice due (pending or retrying, its next attempt not in the
    future), a batch at a time, until none is left. Several deliverers may run at once:
    each claims its own rows (SKIP LOCKED). No row lock is held during the requests."""
    tally = DeliveryTally()
    if not settings.NOTICE_WEBHOOK_URL:
        return tally
    size = batch_size or settings.NOTICE_BATCH_SIZE
    sender = webhook.Sender(
        settings.NOTICE_WEBHOOK_URL,
        settings.NOTICE_WEBHOOK_SECRET,
        concurrency=settings.NOTICE_DELIVERY_CONCURRENCY,
        timeout=settings.NOTICE_TIMEOUT_SECONDS,
    )
    batches = 0
    try:
        while max_batches is None or batches < max_batches:
            moment = now or timezone.now()
            ids = claim_due(size=size, now=moment)
            if not ids:
                break
            batches += 1
            notices = selectors.notices_for_delivery(ids)
            catalogue = _catalogue(notices)
            bodies = [notice_content(notice, catalogue) for notice in notices]
            outcomes = sender.post_all(
                [
                    (notice.idempotency_key, body)
                    for notice, body in zip(notices, bodies, strict=True)
                ]
            )
            done = _record(notices, bodies, outcomes, now=now or timezone.now())
            tally.delivered += done.delivered
            tally.retrying += done.retrying
            tally.dead += done.dead
            if len(ids) < size:
                break
    finally:
        sender.close()
    if tally.sent:
        logger.info(
            "notices: %s delivered, %s to retry, %s dead",
            tally.delivered,
            tally.retrying,
            tally.dead,
        )
    return tally


def notice_retry(*, notice_id: int, actor: Any) -> Notice:
    """Send a dead letter again: it becomes pending, due now, with a fresh series of
    attempts; who asked and when is kept. Only a dead notice can be sent again."""
    if not may(actor, perms.RETRY_NOTICES):
        raise NoticeError(_("Your role cannot send notices again."))
    with transaction.atomic():
        notice = Notice.objects.select_for_update().filter(pk=notice_id).first()
        if notice is None:
            raise NoticeError(_("This notice does not exist."))
        if notice.state != Notice.State.DEAD:
            raise NoticeError(
                _(
                    "Only a failed notice can be sent again; this one is %(state)s. "
                    "Nothing was changed."
                )
                % {"state": notice.get_state_display()}
            )
        NoticeRetry.objects.create(
            notice=notice,
            actor=actor,
            attempts_before=notice.attempts,
            last_error=notice.last_error,
        )
        notice.state = Notice.State.PENDING
        notice.attempts = 0
        notice.next_attempt_at = None
        notice.save(update_fields=["state", "attempts", "next_attempt_at"])
        # Beat sends the outbox every few seconds anyway; this makes it now.
        queue.enqueue(DELIVER_TASK)
    return notice
