"""Evidence kept with an appeal: each file is checked by its content
(appeals.evidence), stored under EVIDENCE_DIR and recorded."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from accounts import permissions as perms
from appeals import evidence
from appeals.models import Evidence

# When a category has no target row (the migration creates them).
from appeals.workflow import AppealError, event_record, locked, require, require_owner


def evidence_path(stored_as: str) -> Path:
    return Path(settings.EVIDENCE_ROOT) / stored_as[:2] / stored_as


def evidence_check(upload: Any) -> str:
    """The content type of an acceptable evidence file, or AppealError with the reason:
    type by content (PDF, PNG, JPEG) and read whole (`evidence.inspect`), not empty,
    at most EVIDENCE_MAX_BYTES."""
    limit = settings.EVIDENCE_MAX_BYTES
    if upload is None:
        raise AppealError(_("Choose a file."))
    if upload.size == 0:
        raise AppealError(_("The file is empty."))
    if upload.size > limit:
        raise AppealError(_("The file is larger than %(mb)s MB.") % {"mb": limit // (1024 * 1024)})
    upload.seek(0)
    data = upload.read(limit + 1)
    content_type = evidence.sniff(data[: evidence.SNIFF_BYTES])
    if content_type is None:
        raise AppealError(
            _(
                "Only PDF, PNG and JPEG files are accepted, and this file is none of them "
                "(whatever its name says)."
            )
        )
    problem = evidence.inspect(
        content_type,
        data,
        max_pages=settings.EVIDENCE_MAX_PDF_PAGES,
        max_pixels=settings.EVIDENCE_MAX_IMAGE_PIXELS,
    )
    if problem:
        raise AppealError(problem)
    return content_type


def evidence_add(*, appeal_id: int, actor: Any, upload: Any, via: str = "") -> Evidence:
    """Store one evidence file for an appeal, or refuse it with a clear message
    and store nothing (see `evidence_check`); the SHA-256 of what was received is
    kept. An integration passes `actor=None` and its name as `via`."""
    if actor is not None or not via:
        require(actor, perms.WORK_APPEALS, _("Your role cannot add evidence."))
    limit = settings.EVIDENCE_MAX_BYTES
    content_type = evidence_check(upload)
    stored_as = uuid.uuid4().hex
    path = evidence_path(stored_as)
    path.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    upload.seek(0)
    try:
        with path.open("xb") as target:
            for chunk in upload.chunks():
                size += len(chunk)
                if size > limit:
                    raise AppealError(
                        _("The file is larger than %(mb)s MB.") % {"mb": limit // (1024 * 1024)}
                    )
                digest.update(chunk)
                target.write(chunk)
        with transaction.atomic():
            appeal = locked(appeal_id)
            if actor is not None:
                require_owner(appeal, actor)
            if not appeal.is_open:
                raise AppealError(_("Evidence is added to open appeals only."))
            item = Evidence.objects.create(
                appeal=appeal,
                name=evidence.safe_name(upload.name, content_type),
                content_type=content_type,
                size=size,
                sha256=digest.hexdigest(),
                stored_as=stored_as,
                uploaded_by=actor,
                uploaded_via=via,
            )
            note = f"{item.name} ({size} bytes, sha256 {item.sha256})"
            event_record(appeal, "evidence", actor, note + (f" via {via}" if via else ""))
    except BaseException:
        path.unlink(missing_ok=True)  # nothing stored when anything went wrong
        raise
    return item
