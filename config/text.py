"""How long the free text that people write may be: one table, enforced by the
services that store it, so that every way in (a page, the API, a command) is held
to it (docs/architecture.md, "Free text"). The forms repeat the limits as
`maxlength` for the browser; the service's check is the one that counts.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

# A one-line why that is shown back to others, e.g. in the kill switch's banner on
# every page, a rollback, a step of an appeal.
REASON_MAX = 500
# A justification or note kept in the audit trail.
JUSTIFICATION_MAX = 2000
# A policy version's rationale.
RATIONALE_MAX = 4000
# The customer's own words in an appeal.
STATEMENT_MAX = 5000
# A name: an integration, a file.
NAME_MAX = 100


def too_long(text: str, maximum: int) -> str | None:
    """A message for the person when `text` is longer than `maximum`, else None."""
    if len(text) <= maximum:
        return None
    return _("Write at most %(max)s characters (this text has %(length)s).") % {
        "max": f"{maximum:,}",
        "length": f"{len(text):,}",
    }
