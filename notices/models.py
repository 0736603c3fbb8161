"""What the notices app keeps of its own: who sent a dead letter again, and when
(docs/architecture.md, "Notices: the outbox and the receiver"). The notice itself is
`decisions.Notice`, written with its decision."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from decisions.models import Notice


class NoticeRetry(models.Model):
    """A person sent a failed (dead) notice again from the dead-letter list."""

    notice = models.ForeignKey(
        Notice, models.PROTECT, related_name="retries", verbose_name=_("notice")
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, related_name="+", verbose_name=_("sent again by")
    )
    at = models.DateTimeField(_("sent again at"), default=timezone.now)
    attempts_before = models.PositiveIntegerField(_("attempts before"))
    last_error = models.TextField(_("last error before"), blank=True)

    class Meta:
        indexes = [models.Index(fields=["notice", "-at"], name="notice_retry_latest")]

    def __str__(self) -> str:
        return f"retry of notice {self.notice_id} by {self.actor_id}"
