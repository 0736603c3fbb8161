"""The integration API, `/api/v1/` (django-ninja): typed schemas that are also
the OpenAPI document, and thin handlers that call services and selectors.

django-ninja rather than Django REST Framework: the request and response
models are Pydantic types checked by mypy, the OpenAPI schema comes from them
with no second description to keep in step, and plain functions fit the
house style of thin function views.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.utils.csp import CSP
from django.views.decorators.csp import csp_override
from django.views.decorators.http import require_GET
from ninja import Field, File, Form, NinjaAPI, Path, Query, Schema, Status, UploadedFile
from ninja.errors import HttpError
from ninja.security import HttpBearer

from accounts.access import staff_only
from accounts.models import ACCOUNT_REFERENCE
from api import selectors, services
from api.models import ApiKey
from appeals import review_requests, workflow
from appeals import services as appeal_services
from config.text import STATEMENT_MAX

MAX_EVENTS = 500
EVENT_ID = r"^[A-Za-z0-9._:-]{1,100}$"  # e.g. a UUID or "risk-engine:2026-11-25:42"


# Swagger UI sets style attributes from its script; only its page allows them.
DOCS_CSP: dict[str, Any] = dict(settings.SECURE_CSP)
DOCS_CSP["style-src"] = [CSP.SELF, CSP.UNSAFE_INLINE]


class KeyAuth(HttpBearer):
    """`Authorization: Bearer ld_<prefix>_<secret>`, a key an administrator created."""

    def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        return selectors.api_key_for(token)


api = NinjaAPI(
    title="Limit Desk API",
    version="1",
    description="Signals in, appeals in, decisions and explanations out. "
    "Every call needs a key with the right scope.",
    urls_namespace="api",
    auth=KeyAuth(),
    docs_url="/docs",
    # The reference is for signed-in staff (accounts/access.py, ACCESS).
    docs_decorator=lambda view: require_GET(staff_only(csp_override(DOCS_CSP)(view))),
)


def _require(request: HttpRequest, scope: str) -> ApiKey:
    key = request.auth  # type: ignore[attr-defined]
    if scope not in key.scopes:
        raise HttpError(403, f"This key lacks the scope {scope}.")
    return key


class ErrorOut(Schema):
    detail: Any


@api.exception_handler(RequestDataTooBig)
def too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return api.create_response(
        request,
        {"detail": f"The body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes."},
        status=413,
    )


# --------------------------------------------------------------------------
# Signals
# --------------------------------------------------------------------------


class SignalEventIn(Schema):
    event_id: str = Field(
        pattern=EVENT_ID, description="Unique per event; resent events change nothing."
    )
    account: str = Field(pattern=ACCOUNT_REFERENCE, description="The account reference.")
    observed_at: datetime = Field(
        description="When the upstream system observed the values; "
        "an older event never overwrites a newer one."
    )
    signals: dict[str, bool | int | float | str | None] = Field(
        description='Signal name to value, e.g. {"lender_applications_30d": 4}.'
    )


class SignalBatchIn(Schema):
    events: list[SignalEventIn] = Field(min_length=1, max_length=MAX_EVENTS)


class EventResultOut(Schema):
    event_id: str
    status: Literal["applied", "duplicate", "stale", "rejected"]
    errors: dict[str, str]


class SignalBatchOut(Schema):
    results: list[EventResultOut]
    applied: int
    duplicate: int
    stale: int
    rejected: int


@api.post(
    "/signals/events",
    response={200: SignalBatchOut, 401: ErrorOut, 403: ErrorOut, 413: ErrorOut, 422: ErrorOut},
    summary="Send a batch of signal updates (at most 500)",
)
def signal_events(request: HttpRequest, batch: SignalBatchIn) -> SignalBatchOut:
    key = _require(request, ApiKey.Scope.SIGNALS_WRITE)
    results = services.signal_events_apply(
        key=key,
        events=[
            services.Event(e.event_id, e.account, e.observed_at, dict(e.signals))
            for e in batch.events
        ],
    )
    counts = dict.fromkeys(("applied", "duplicate", "stale", "rejected"), 0)
    for result in results:
        counts[result.status] += 1
    return SignalBatchOut(
        results=[
            EventResultOut(event_id=r.event_id, status=r.status, errors=r.errors)  # type: ignore[arg-type]
            for r in results
        ],
        **counts,
    )


# --------------------------------------------------------------------------
# Explanations and decisions
# --------------------------------------------------------------------------


class ReasonOut(Schema):
    code: str
    text: str
    suggestion: str
    facts: list[str] = Field(
        description="The account's own figures behind the reason, e.g. "
        '"utilization: 35 %; under 30 % scores best (5 points below)".'
    )


class DecisionSummaryOut(Schema):
    action: str
    old_limit: str
    new_limit: str
    status: str
    decided_at: datetime


class ExplanationOut(Schema):
    account: str
    language: str
    decision: DecisionSummaryOut | None
    reasons: list[ReasonOut]
    restoration: str = Field(
        description="For a cut or closure: the smallest change of one or two signals the "
        "customer can act on that would have kept the limit or moved the band; else empty."
    )


@api.get(
    "/accounts/{reference}/explanation",
    response={200: ExplanationOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="The latest decision's reasons in the customer's words",
)
def explanation(
    request: HttpRequest,
    reference: Annotated[str, Path(pattern=ACCOUNT_REFERENCE)],
    lang: Literal["en", "zh-hans"] = "en",
) -> ExplanationOut:
    _require(request, ApiKey.Scope.DECISIONS_READ)
    found = selectors.customer_explanation(reference, language=lang)
    if found is None:
        raise HttpError(404, "No account with this reference.")
    decision = found.decision
    return ExplanationOut(
        account=found.account.reference,
        language=lang,
        decision=DecisionSummaryOut(
            action=decision.action,
            old_limit=str(decision.old_limit),
            new_limit=str(decision.new_limit),
            status=decision.new_status,
            decided_at=decision.created_at,
        )
        if decision
        else None,
        reasons=[ReasonOut(**reason) for reason in found.reasons],
        restoration=found.restoration,
    )


class DecisionOut(Schema):
    id: int
    account: str
    sequence: int
    action: str
    source: str
    old_limit: str = Field(description='Decimal as text, e.g. "12000.00".')
    new_limit: str
    old_status: str
    new_status: str
    reasons: list[str]
    policy_version: int | None
    decided_at: datetime


class FeedOut(Schema):
    decisions: list[DecisionOut]
    next_cursor: str = Field(
        description="Pass as `after` to read on; the same when nothing is new yet."
    )


class FeedQuery(Schema):
    after: str = Field("0", pattern=r"^[0-9]{1,18}$", description="The cursor of the last read.")
    limit: int = Field(100, ge=1, le=1000)


@api.get(
    "/decisions",
    response={200: FeedOut, 401: ErrorOut, 403: ErrorOut, 422: ErrorOut},
    summary="New decisions after a cursor, oldest first",
)
def decisions(request: HttpRequest, query: Query[FeedQuery]) -> FeedOut:
    _require(request, ApiKey.Scope.DECISIONS_READ)
    rows = selectors.decision_feed(after=int(query.after), limit=query.limit)
    return FeedOut(
        decisions=[
            DecisionOut(
                id=row["pk"],
                account=row["account__reference"],
                sequence=row["sequence"],
                action=row["action"],
                source=row["source"],
                old_limit=str(row["old_limit"]),
                new_limit=str(row["new_limit"]),
                old_status=row["old_status"],
                new_status=row["new_status"],
                reasons=row["reasons"],
                policy_version=row["policy_version"],
                decided_at=row["created_at"],
            )
            for row in rows
        ],
        next_cursor=str(rows[-1]["pk"]) if rows else query.after,
    )


# --------------------------------------------------------------------------
# Appeals
# --------------------------------------------------------------------------

MAX_FILES = 5


class AppealIn(Schema):
    account: str = Field(pattern=ACCOUNT_REFERENCE, description="The account reference.")
    channel: Literal["app", "written"] = Field(
        description="The in-app help centre or a written limit-adjustment application."
    )
    category: Literal["reason", "misjudged", "evidence", "closure"]
    statement: str = Field(min_length=5, max_length=STATEMENT_MAX, pattern=r"^[^\x00]*$")
    requested_limit: str | None = Field(None, pattern=r"^[0-9]{1,10}(\.[0-9]{1,2})?$")


class EvidenceOut(Schema):
    name: str
    content_type: str
    size: int
    sha256: str


class AppealOut(Schema):
    appeal: int
    duplicate: bool = Field(description="True: an open appeal on the same decision took it.")
    state: str
    sla_due: datetime
    evidence: list[EvidenceOut]


@api.post(
    "/appeals",
    response={
        200: AppealOut,
        201: AppealOut,
        401: ErrorOut,
        403: ErrorOut,
        404: ErrorOut,
        413: ErrorOut,
        422: ErrorOut,
    },
    summary="An appeal from the help centre or a written application, with evidence files",
)
def appeal_create(
    request: HttpRequest,
    appeal: Form[AppealIn],
    files: File[list[UploadedFile]] = None,  # type: ignore[assignment]
) -> Status[AppealOut]:
    key = _require(request, ApiKey.Scope.APPEALS_WRITE)
    uploads = list(files or [])
    if len(uploads) > MAX_FILES:
        raise HttpError(422, f"At most {MAX_FILES} evidence files per appeal.")
    try:
        result = appeal_services.appeal_from_integration(
            reference=appeal.account,
            channel=appeal.channel,
            category=appeal.category,
            statement=appeal.statement,
            requested_limit=appeal.requested_limit,
            uploads=uploads,
            via=key.name,
        )
    except appeal_services.UnknownAccount:
        raise HttpError(404, "No account with this reference.") from None
    except workflow.AppealError as error:
        raise HttpError(422, str(error)) from None
    created = result.intake.appeal
    return Status(
        200 if result.intake.duplicate else 201,
        AppealOut(
            appeal=created.pk,
            duplicate=result.intake.duplicate,
            state=created.state,
            sla_due=created.sla_due,
            evidence=[
                EvidenceOut(name=e.name, content_type=e.content_type, size=e.size, sha256=e.sha256)
                for e in result.evidence
            ],
        ),
    )


# --------------------------------------------------------------------------
# Human review on request (docs/architecture.md, "Human review on request")
# --------------------------------------------------------------------------


class ReviewRequestIn(Schema):
    account: str = Field(pattern=ACCOUNT_REFERENCE, description="The account reference.")
    decision: int | None = Field(
        None,
        ge=1,
        le=2**63 - 1,
        description="The id of the automated decision concerned (as in the decision feed); "
        "omitted: the account's latest automated decision.",
    )
    kind: Literal["explanation", "human_review", "both"] = Field(
        description="What the customer asks for: an explanation of the decision, a person "
        "to review it, or both."
    )
    view: str = Field(
        max_length=STATEMENT_MAX,
        pattern=r"^[^\x00]*$",
        description="The customer's view of the decision, in their words (at least 5 characters).",
    )
    channel: Literal["app", "written"] = Field(
        description="The in-app help centre or a written request."
    )


class ReviewRequestOut(Schema):
    appeal: int = Field(description="The appeal's reference (its number, shown as #N).")
    duplicate: bool = Field(
        description="True: an open review request on the same decision took this one."
    )
    state: str
    category: str
    kind: str
    decision: int = Field(description="The id of the automated decision concerned.")
    sla_due: datetime = Field(description="When the answer is due, by the category's SLA.")


@api.post(
    "/review-requests",
    response={
        200: ReviewRequestOut,
        201: ReviewRequestOut,
        **dict.fromkeys((401, 403, 404, 413, 422), ErrorOut),
    },
    summary="A customer's request for an explanation or a human review of an automated decision",
)
def review_request_create(request: HttpRequest, body: ReviewRequestIn) -> Status[ReviewRequestOut]:
    key = _require(request, ApiKey.Scope.APPEALS_WRITE)
    try:
        result = review_requests.review_request_from_integration(
            reference=body.account,
            kind=body.kind,
            view=body.view,
            channel=body.channel,
            decision_id=body.decision,
            via=key.name,
        )
    except appeal_services.UnknownAccount:
        raise HttpError(404, "No account with this reference.") from None
    except workflow.AppealError as error:
        raise HttpError(422, str(error)) from None
    appeal = result.appeal
    assert appeal.decision_id is not None
    return Status(
        200 if result.duplicate else 201,
        ReviewRequestOut(
            appeal=appeal.pk,
            duplicate=result.duplicate,
            state=appeal.state,
            category=appeal.category,
            kind=appeal.review_kind,
            decision=appeal.decision_id,
            sla_due=appeal.sla_due,
        ),
    )
