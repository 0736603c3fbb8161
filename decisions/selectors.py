"""Reads of the decisions app for pages."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import astuple, dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection
from django.db.models import Count, Min, Q, Sum
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from accounts.models import Account, PersonalDataReveal
from accounts.selectors import portfolio_figures, users_with_permission
from accounts.signal_spec import SIGNALS_BY_NAME
from config import db
from decisions import chain, checkpoint, explain, policy, wording
from decisions.models import (
    DecisionTally,
    LimitDecision,
    OverrideRequest,
    Policy,
    ReasonCode,
    RescoreRequest,
    RescoreRun,
    WorkerHeartbeat,
)
from decisions.services import active_policy, audit_checkpoint_key


@dataclass(frozen=True)
class WorkerStatus:
    last: WorkerHeartbeat | None
    healthy: bool


def worker_status() -> WorkerStatus:
    """The latest heartbeat; healthy when it is newer than two beat intervals."""
    last = WorkerHeartbeat.objects.order_by("-recorded_at").first()
    healthy = (
        last is not None and last.recorded_at >= timezone.now() - 2 * settings.HEARTBEAT_INTERVAL
    )
    return WorkerStatus(last=last, healthy=healthy)


@dataclass(frozen=True)
class NamedBrokenLink:
    reference: str
    account_id: int
    sequence: int
    decision_id: int
    problem: str


@dataclass(frozen=True)
class ChainReport:
    accounts: int
    decisions: int
    broken: list[NamedBrokenLink]


def audit_chain_report(*, account_reference: str | None = None) -> ChainReport:
    """Recompute every decision's hash, account by account, streaming the table.

    Also checks that each account's chain head is its last decision's hash, so
    a deleted latest decision is caught too.
    """
    decisions = LimitDecision.objects.order_by("account_id", "sequence")
    accounts = Account.objects.exclude(chain_head="")
    if account_reference:
        decisions = decisions.filter(account__reference=account_reference)
        accounts = Account.objects.filter(reference=account_reference)
    heads = dict(accounts.values_list("pk", "chain_head"))
    references = dict(accounts.values_list("pk", "reference"))
    fields = ["id", "prev_hash", "hash", *chain.HASHED_FIELDS]
    broken: list[NamedBrokenLink] = []
    count = 0
    seen: set[int] = set()

    def check(account_id: int, rows: list[dict[str, Any]]) -> None:
        seen.add(account_id)
        link = chain.verify_chain(account_id, rows)
        if link is None and rows and heads.get(account_id) != rows[-1]["hash"]:
            link = chain.BrokenLink(
                account_id, rows[-1]["sequence"] + 1, 0,
                "the account's latest decision is missing",
            )  # fmt: skip
        if link is not None:
            reference = references.get(account_id) or str(account_id)
            broken.append(NamedBrokenLink(reference, *astuple(link)))

    current: int | None = None
    rows: list[dict[str, Any]] = []
    for row in decisions.values(*fields).iterator(chunk_size=5000):
        count += 1
        if row["account_id"] != current:
            if current is not None:
                check(current, rows)
            current, rows = row["account_id"], []
        rows.append(row)
    if current is not None:
        check(current, rows)
    for account_id in heads.keys() - seen:
        broken.append(NamedBrokenLink(
            references[account_id], account_id, 1, 0,
            "the account has a chain head but its decisions are gone",
        ))  # fmt: skip
    return ChainReport(accounts=len(seen | heads.keys()), decisions=count, broken=broken)


@dataclass(frozen=True)
class CheckpointMismatch:
    """Accounts of one bucket whose chain heads no longer match the checkpoint."""

    first_id: int
    last_id: int
    accounts: int
    references: list[str]  # the first few accounts of the bucket
    missing: list[tuple[str, int, int]]  # (reference, account id, sequence) gone


@dataclass(frozen=True)
class CheckpointCheck:
    directory: Path
    path: Path | None  # the latest checkpoint; None: none written yet
    checkpoint: checkpoint.Checkpoint | None  # None: none, or one that cannot be trusted
    problem: str  # why the latest checkpoint cannot be trusted
    accounts: int  # accounts compared with it
    mismatches: list[CheckpointMismatch]

    @property
    def broken(self) -> bool:
        return bool(self.problem or self.mismatches)


def audit_checkpoint_latest() -> Path | None:
    directory = Path(settings.AUDIT_CHECKPOINT_DIR)
    try:
        names = sorted(
            entry.name for entry in directory.iterdir() if checkpoint.is_file_name(entry.name)
        )
    except FileNotFoundError:
        return None
    return directory / names[-1] if names else None


_HASHES_AT_SQL = """
    SELECT d.account_id, d.hash
    FROM unnest(%s::bigint[], %s::integer[]) AS c(account_id, sequence)
    JOIN decisions_limitdecision AS d
      ON d.account_id = c.account_id AND d.sequence = c.sequence
"""
CHECKPOINT_BUCKETS_PER_QUERY = 100


def audit_checkpoint_check(*, account_reference: str | None = None) -> CheckpointCheck:
    """Compare the decisions with the latest signed checkpoint: the decision at each
    account's checkpointed head must still be there, with the hash it had.

    Raises ImproperlyConfigured when a checkpoint exists but no key is set."""
    directory = Path(settings.AUDIT_CHECKPOINT_DIR)
    path = audit_checkpoint_latest()
    if path is None:
        return CheckpointCheck(directory, None, None, "", 0, [])
    key = audit_checkpoint_key()
    try:
        made = checkpoint.decode(path.read_bytes(), key)
    except checkpoint.CheckpointError as error:
        return CheckpointCheck(directory, path, None, str(error), 0, [])
    except OSError as error:
        return CheckpointCheck(
            directory, path, None, f"it cannot be read ({error.strerror or error})", 0, []
        )
    database = connection.settings_dict["NAME"]
    if made.database != database:
        problem = f"it is a checkpoint of the database {made.database}, not of {database}"
        return CheckpointCheck(directory, path, None, problem, 0, [])
    size = made.bucket_size
    buckets: Sequence[checkpoint.Bucket] = made.buckets
    if account_reference:
        account_id = (
            Account.objects.filter(reference=account_reference).values_list("pk", flat=True).first()
        )
        bucket = made.bucket_of(account_id) if account_id is not None else None
        buckets = [bucket] if bucket is not None else []
    found_mismatches: list[checkpoint.Mismatch] = []
    compared = 0
    with connection.cursor() as cursor:
        for start in range(0, len(buckets), CHECKPOINT_BUCKETS_PER_QUERY):
            batch = buckets[start : start + CHECKPOINT_BUCKETS_PER_QUERY]
            heads = [head for bucket in batch for head in bucket.heads(size)]
            cursor.execute(_HASHES_AT_SQL, [[a for a, _s in heads], [s for _a, s in heads]])
            found = dict(cursor.fetchall())
            compared += len(heads)
            found_mismatches += [
                mismatch
                for bucket in batch
                if (mismatch := checkpoint.compare(bucket, size, found)) is not None
            ]
    shown = 5
    wanted = {i for m in found_mismatches for i in m.account_ids[:shown]}
    wanted |= {account_id for m in found_mismatches for account_id, _seq in m.missing}
    references = dict(Account.objects.filter(pk__in=wanted).values_list("pk", "reference"))
    mismatches = [
        CheckpointMismatch(
            first_id=m.first_id,
            last_id=m.last_id,
            accounts=len(m.account_ids),
            references=[references.get(i, f"id {i}") for i in m.account_ids[:shown]],
            missing=[(references.get(i, f"id {i}"), i, seq) for i, seq in m.missing],
        )
        for m in found_mismatches
    ]
    return CheckpointCheck(directory, path, made, "", compared, mismatches)


def run_detail(run_id: int) -> RescoreRun | None:
    return (
        RescoreRun.objects.select_related(
            "policy", "candidate", "started_by", "account", "decided_by"
        )
        .filter(pk=run_id)
        .first()
    )


@dataclass(frozen=True)
class PreviewAction:
    action: str
    label: Any
    accounts: int
    amount: Decimal  # limit added (positive) or removed (negative)


@dataclass(frozen=True)
class PreviewCut:
    reference: str
    action: Any  # its label
    old_limit: Decimal
    new_limit: Decimal


@dataclass(frozen=True)
class RunPreview:
    actions: list[PreviewAction]
    largest_cuts: list[PreviewCut]


def run_preview(run: RescoreRun, *, top: int = 10) -> RunPreview:
    """What a computed run would do: accounts and amounts per action, and the
    largest cuts; read from the chunks' stored results, nothing applied."""
    from decisions.runs import chunk_arrays

    codes = policy.ACTION_CODES
    counts = np.zeros(len(codes), dtype=np.int64)
    amounts = np.zeros(len(codes), dtype=np.int64)
    candidates: list[np.ndarray] = []  # rows of (cut, id, old, new, action), cents
    blobs = run.chunks.filter(state="computed").order_by("index").values_list("result", flat=True)
    for blob in blobs.iterator(chunk_size=4):
        if blob is None:
            continue
        arrays = chunk_arrays(bytes(blob))
        action = arrays["action"].astype(np.int64)
        old, new = arrays["old_limit"].astype(np.int64), arrays["new_limit"].astype(np.int64)
        counts += np.bincount(action, minlength=len(codes))
        amounts += np.bincount(action, weights=new - old, minlength=len(codes)).astype(np.int64)
        cuts = np.flatnonzero(new < old)
        if len(cuts) > top:
            cuts = cuts[np.argpartition(new[cuts] - old[cuts], top)[:top]]
        candidates.append(
            np.stack([new[cuts] - old[cuts], arrays["ids"][cuts], old[cuts], new[cuts],
                      action[cuts]], axis=1)
        )  # fmt: skip
    labels = dict(LimitDecision.Action.choices)
    largest: list[PreviewCut] = []
    if candidates:
        rows = np.concatenate(candidates)
        rows = rows[np.lexsort((rows[:, 1], rows[:, 0]))][:top]
        references = dict(
            Account.objects.filter(pk__in=[int(r[1]) for r in rows]).values_list("pk", "reference")
        )
        names = list(codes)
        largest = [
            PreviewCut(
                reference=references.get(int(row[1]), str(row[1])),
                action=labels.get(names[int(row[4])], names[int(row[4])]),
                old_limit=Decimal(int(row[2])) / 100,
                new_limit=Decimal(int(row[3])) / 100,
            )
            for row in rows
        ]
    actions = [
        PreviewAction(
            action=name,
            label=labels.get(name, name),
            accounts=int(counts[code]),
            amount=Decimal(int(amounts[code])) / 100,
        )
        for name, code in codes.items()
        if name != policy.KEEP
    ]
    return RunPreview(actions=actions, largest_cuts=largest)


@dataclass(frozen=True)
class RunStop:
    """Where a failed run stopped, and what it had written by then."""

    phase: str  # "compute" (nothing applied) or "apply"
    chunks_total: int
    chunks_applied: int
    chunks_left: int  # what Retry takes up
    written: list[tuple[Any, int]]  # (action label, decisions) written before it stopped


def run_stop(run: RescoreRun) -> RunStop:
    states = dict(run.chunks.values_list("state").annotate(n=Count("id")).order_by())
    applied = states.get("applied", 0)
    apply_phase = run.apply_started_at is not None and not states.get("pending")
    labels = dict(LimitDecision.Action.choices)
    written = (
        LimitDecision.objects.filter(run=run)
        .values_list("action")
        .annotate(n=Count("id"))
        .order_by("action")
    )
    return RunStop(
        phase="apply" if apply_phase else "compute",
        chunks_total=run.chunks_total,
        chunks_applied=applied,
        chunks_left=states.get("computed" if apply_phase else "pending", 0),
        written=[(labels.get(action, action), n) for action, n in written],
    )


@dataclass(frozen=True)
class PortfolioRunPlan:
    """What a whole-portfolio run started now would do, for its confirmation."""

    accounts: int
    active_accounts: int
    exposure: Decimal
    policy: Policy
    candidate: Policy | None
    breaker_accounts_pct: Decimal
    breaker_exposure_pct: Decimal
    reductions_paused: bool
    busy: RescoreRun | None  # a portfolio run already under way: no second one


def portfolio_run_plan() -> PortfolioRunPlan:
    from policies.selectors import reductions_paused

    figures = portfolio_figures()
    active = active_policy()
    rules = policy.parse_policy(active.rules)
    busy = (
        RescoreRun.objects.filter(account__isnull=True, state__in=RescoreRun.MOVING)
        .order_by("-created_at")
        .first()
    )
    return PortfolioRunPlan(
        accounts=figures.accounts,
        active_accounts=figures.by_status.get(Account.Status.ACTIVE, 0),
        exposure=figures.exposure,
        policy=active,
        candidate=Policy.objects.filter(state=Policy.State.ROLLOUT).first(),
        breaker_accounts_pct=rules.breaker_max_accounts_cut_pct,
        breaker_exposure_pct=rules.breaker_max_exposure_cut_pct,
        reductions_paused=reductions_paused(),
        busy=busy,
    )


def recent_runs(*, signals: bool = False, limit: int = 50) -> list[RescoreRun]:
    """The latest runs: with `signals`, the batches of signal re-scores; without, the
    others (portfolio runs and single-account re-scores)."""
    runs = RescoreRun.objects.select_related("policy", "candidate", "started_by", "account")
    batches = Q(trigger=RescoreRun.Trigger.SIGNAL, account__isnull=True)
    runs = runs.filter(batches) if signals else runs.exclude(batches)
    return list(runs.order_by("-created_at")[:limit])


@dataclass(frozen=True)
class SignalRescores:
    runs: int
    accounts: int
    raised: int
    reduced: int
    closed: int
    reopened: int
    held_cuts: int
    waiting: int  # accounts whose re-score is asked for and not yet done
    oldest_wait: datetime | None


def signal_rescores(*, since: datetime) -> SignalRescores:
    """What the signal re-scores did since `since`, and what waits."""
    done = RescoreRun.objects.filter(
        trigger=RescoreRun.Trigger.SIGNAL, account__isnull=True, created_at__gte=since
    ).aggregate(
        runs=Count("id"), accounts=Sum("accounts_total"), raised=Sum("raised"),
        reduced=Sum("reduced"), closed=Sum("closed"), reopened=Sum("reopened"),
        held_cuts=Sum("held_cuts"),
    )  # fmt: skip
    waiting = RescoreRequest.objects.aggregate(
        accounts=Count("account_id", distinct=True), oldest=Min("requested_at")
    )
    return SignalRescores(
        **{name: value or 0 for name, value in done.items()},
        waiting=waiting["accounts"], oldest_wait=waiting["oldest"],
    )  # fmt: skip


@dataclass(frozen=True)
class ContributionRow:
    signal: str
    label: Any
    points: int
    lost: int  # points below the signal's best bin


@dataclass(frozen=True)
class ReasonRow:
    code: str
    staff: str
    customer: str
    suggestion: str
    facts: tuple[str, ...] = ()  # the account's own figures behind the reason
    deciding: bool = False  # the rule that set the decision's figure


@dataclass(frozen=True)
class InputRow:
    label: Any
    then: Any
    now: Any
    changed: bool


@dataclass(frozen=True)
class ThresholdRow:
    code: str
    label: Any
    value: str  # the value at the decision
    comparison: str  # "≥ 8"
    effect: str


@dataclass(frozen=True)
class Explanation:
    decision: LimitDecision
    reasons: list[ReasonRow]
    contributions: list[ContributionRow]
    inputs: list[InputRow]
    thresholds: list[ThresholdRow]
    restoration: str = ""  # what would have kept or restored the limit, in words


OPERATORS = {">=": "≥", ">": ">", "<": "<", "=": "=", "": ""}
SPECIAL_LABELS = {
    "limit": _lazy("limit before the decision"),
    "overlay": _lazy("portfolio overlay factor"),
    "cooldown": _lazy("cool-down after a closure"),
}


def _plain(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(_("yes") if value else _("no"))
    return str(value)


def _effect(row: policy.Crossed) -> str:
    if row.effect == "close":
        return _("closes the line")
    if row.effect == "reduce":
        return _("cuts the limit by %(pct)s%%") % {"pct": row.pct}
    if row.effect == "cap":
        return _("caps the limit")
    return _("keeps the line closed for %(days)s days after the closure") % {"days": row.value}


def threshold_rows(decision: LimitDecision) -> list[ThresholdRow]:
    """The thresholds the decision crossed, read against its own policy version."""
    if not decision.triggers or decision.policy is None:
        return []
    rules = policy.parse_policy(decision.policy.rules)
    rows = []
    for row in policy.crossed_thresholds(
        decision.triggers, decision.inputs, rules,
        old_limit=decision.old_limit, band=decision.band_after,
    ):  # fmt: skip
        spec = SIGNALS_BY_NAME.get(row.signal)
        rows.append(
            ThresholdRow(
                code=row.code,
                label=spec.label if spec else SPECIAL_LABELS.get(row.signal, row.signal),
                value="" if row.effect == "keep_closed" else _plain(row.value),
                comparison=""
                if row.effect == "keep_closed"
                else f"{OPERATORS.get(row.op, row.op)} {_plain(row.threshold)}",
                effect=_effect(row),
            )
        )
    return rows


def decision_explanation(
    decision: LimitDecision,
    *,
    language: str,
    current_signals: dict[str, Any] | None,
    catalogue: dict[str, ReasonCode] | None = None,
) -> Explanation:
    """Why a decision moved the limit: reasons in words, points per signal, inputs then vs now.

    Pass `catalogue` (ReasonCode by code) to explain one decision in several languages
    with one query."""
    if catalogue is None:
        catalogue = reason_catalogue(decision.reasons)
    with translation.override(language):
        reasons = reason_rows(decision, catalogue, language)
        restoration = restoration_text(decision)
    best = {c.signal: c.best for c in policy.SCORECARD}
    contributions = sorted(
        (
            ContributionRow(
                signal=name,
                label=SIGNALS_BY_NAME[name].label if name in SIGNALS_BY_NAME else name,
                points=points,
                lost=best.get(name, points) - points,
            )
            for name, points in decision.contributions.items()
        ),
        key=lambda row: (-row.lost, row.signal),
    )
    inputs = []
    for name, then in decision.inputs.items():
        now = (current_signals or {}).get(name)
        now_text = "" if now is None else str(now)
        inputs.append(
            InputRow(
                label=SIGNALS_BY_NAME[name].label if name in SIGNALS_BY_NAME else name,
                then=then,
                now=now_text,
                changed=current_signals is not None and _differs(then, now),
            )
        )
    return Explanation(
        decision, reasons, contributions, inputs, threshold_rows(decision), restoration
    )


def _rules_of(decision: LimitDecision) -> policy.PolicyRules | None:
    if decision.policy is None:
        return None
    return policy.parse_policy(decision.policy.rules)


def deciding_code(decision: LimitDecision) -> str | None:
    """The rule named first because it set the figure (a cut or a closure)."""
    if decision.action not in (policy.REDUCE, policy.CLOSE) or not decision.reasons:
        return None
    first = decision.reasons[0]
    return first if first in decision.triggers else None


def reason_rows(
    decision: LimitDecision, catalogue: dict[str, ReasonCode], language: str
) -> list[ReasonRow]:
    """Each reason the decision states in words, with the account's own figures."""
    deciding = deciding_code(decision)
    return explained_reasons(
        decision.reasons,
        catalogue,
        language,
        rules=_rules_of(decision),
        triggers=decision.triggers,
        inputs=decision.inputs,
        old_limit=decision.old_limit,
        band=decision.band_after,
        deciding=deciding,
        figure=decision.new_limit if deciding and decision.action == policy.REDUCE else None,
    )


def explained_reasons(
    codes: Sequence[str],
    catalogue: dict[str, ReasonCode],
    language: str,
    *,
    rules: policy.PolicyRules | None,
    triggers: Sequence[str],
    inputs: dict[str, Any],
    old_limit: Decimal,
    band: str,
    deciding: str | None = None,
    figure: Decimal | None = None,
) -> list[ReasonRow]:
    """Reasons in words (call inside translation.override(language)): the catalogue's
    texts, and the figures behind each, read from `inputs` against `rules`: the
    threshold a rule crossed (with the limit it set, `figure`, for the `deciding`
    rule) and the signals below their best bins."""
    rows = []
    for code in codes:
        facts: list[str] = []
        if rules is not None:
            if code in triggers:
                facts += [
                    wording.rule_fact(
                        row, band=band, new_limit=figure if code == deciding else None
                    )
                    for row in policy.crossed_thresholds(
                        [code], inputs, rules, old_limit=old_limit, band=band
                    )
                ]
            facts += [wording.score_fact(f) for f in explain.scorecard_facts(code, inputs)]
        if code == "VERIFIED_CAPACITY":  # what the appeal's evidence verified
            facts += [
                f"{wording.label(name)}: {wording.value(name, inputs[name])}"
                for name in policy.VERIFIABLE
                if inputs.get(name) not in (None, False, "0", "0.00")
            ]
        entry = catalogue.get(code)
        rows.append(
            ReasonRow(
                code=code,
                staff=entry.text("staff", language) if entry else code,
                customer=entry.text("customer", language) if entry else "",
                suggestion=entry.text("suggestion", language) if entry else "",
                facts=tuple(facts),
                deciding=code == deciding,
            )
        )
    return rows


def restoration_text(decision: LimitDecision) -> str:
    """For a cut or closure by the policy: the smallest change of one or two signals the
    customer can act on that would have kept the limit or moved the band."""
    rules = _rules_of(decision)
    if rules is None or decision.action not in (policy.REDUCE, policy.CLOSE):
        return ""
    found = explain.restoration(
        policy.compile_rules(rules),
        decision.inputs,
        limit=policy.cents(decision.old_limit),
        status=decision.old_status,
        band=decision.band_after,
    )
    if found is None:
        return _("No change of one or two signals the customer controls would restore it.")
    return wording.restoration(found, old_limit=decision.old_limit)


def _differs(then: Any, now: Any) -> bool:
    try:
        return float(then if then is not None else 0) != float(now if now is not None else 0)
    except (TypeError, ValueError):
        return str(then) != str(now)


@dataclass(frozen=True)
class TimelinePage:
    decisions: list[LimitDecision]
    older: int | None  # the `before` of the next page, None when this is the oldest


def account_timeline(
    account_id: int, *, before: int | None = None, limit: int = 20
) -> TimelinePage:
    """One page of the account's decisions, newest first, by chain sequence (keyset)."""
    decisions = LimitDecision.objects.filter(account_id=account_id)
    if before is not None:
        decisions = decisions.filter(sequence__lt=before)
    rows = list(
        decisions.select_related("actor", "approver", "run", "policy").order_by("-sequence")[
            : limit + 1
        ]
    )
    older = rows[limit - 1].sequence if len(rows) > limit else None
    return TimelinePage(decisions=rows[:limit], older=older)


@dataclass(frozen=True)
class LimitPoint:
    at: Any
    limit: Decimal
    action: str


def limit_history(account_id: int, *, limit: int = 120) -> list[LimitPoint]:
    """The limit before the oldest of the latest `limit` decisions, then after each,
    oldest first, for the chart."""
    rows = list(
        LimitDecision.objects.filter(account_id=account_id)
        .order_by("-sequence")
        .values_list("created_at", "old_limit", "new_limit", "action")[:limit]
    )
    rows.reverse()
    points = [LimitPoint(at, new_limit, action) for at, _old, new_limit, action in rows]
    if rows:  # where the line started: the limit before the oldest decision shown
        at, old_limit, _new, _action = rows[0]
        points.insert(0, LimitPoint(at, old_limit, ""))
    return points


def pending_overrides(account_id: int) -> list[OverrideRequest]:
    return list(
        OverrideRequest.objects.filter(account_id=account_id, state=OverrideRequest.State.PENDING)
        .select_related("requested_by")
        .order_by("created_at")
    )


def override_request_of_account(account_id: int, request_id: int) -> bool:
    """Whether the override request belongs to this account (a URL's account must own
    the request it names)."""
    return OverrideRequest.objects.filter(pk=request_id, account_id=account_id).exists()


def override_approvers() -> list[str]:
    """Who may approve an override (by role), for the "pending approval" note."""
    return list(users_with_permission("approve_override").values_list("username", flat=True))


def decision_with_links(decision_id: int) -> LimitDecision | None:
    return (
        LimitDecision.objects.select_related(
            "account__signals", "actor", "approver", "run", "reverts", "policy"
        )
        .filter(pk=decision_id)
        .first()
    )


def decision_neighbour(decision: LimitDecision, *, before: bool) -> LimitDecision | None:
    """The previous (or next) link in the account's chain."""
    sequence = decision.sequence - 1 if before else decision.sequence + 1
    return (
        LimitDecision.objects.filter(account_id=decision.account_id, sequence=sequence)
        .order_by()
        .first()
    )


def reason_catalogue(codes: list[str]) -> dict[str, ReasonCode]:
    return ReasonCode.objects.in_bulk(list(codes))


def reason_choices(language: str) -> list[tuple[str, str]]:
    """Reason codes for a filter: (code, "CODE — staff text")."""
    return [
        (reason.code, f"{reason.code} — {reason.text('staff', language)}")
        for reason in ReasonCode.objects.order_by("code")
    ]


def latest_decision(account_id: int) -> LimitDecision | None:
    return (
        LimitDecision.objects.filter(account_id=account_id)
        .select_related("actor", "approver", "run", "policy")
        .order_by("-sequence")
        .first()
    )


@dataclass(frozen=True)
class DayCounts:
    days: list[str]  # ISO dates, oldest first
    by_action: list[tuple[str, Any, list[int]]]  # (action, label, count per day)
    total: int


def changes_per_day(*, days: int = 30) -> DayCounts:
    """Limit decisions per day and action over the last `days` days, from the tally."""
    today = timezone.localdate()
    first = today - timedelta(days=days - 1)
    rows = (
        DecisionTally.objects.filter(day__gte=first, reason="")
        .values_list("day", "action")
        .annotate(n=Sum("count"))
        .order_by()
    )
    counts: dict[str, dict[date, int]] = {}
    for day, action, n in rows:
        counts.setdefault(action, {})[day] = n
    labels = dict(LimitDecision.Action.choices)
    span = [first + timedelta(days=i) for i in range(days)]
    by_action = [
        (action, labels.get(action, action), [counts[action].get(day, 0) for day in span])
        for action in LimitDecision.Action.values
        if action in counts
    ]
    return DayCounts(
        days=[day.isoformat() for day in span],
        by_action=by_action,
        total=sum(sum(series) for _a, _l, series in by_action),
    )


@dataclass(frozen=True)
class ReasonCount:
    code: str
    text: str
    count: int


def top_reasons(*, days: int = 7, limit: int = 8, language: str) -> list[ReasonCount]:
    """The reasons named most often by the decisions of the last `days` days."""
    first = timezone.localdate() - timedelta(days=days - 1)
    rows = list(
        DecisionTally.objects.filter(day__gte=first)
        .exclude(reason="")
        .values_list("reason")
        .annotate(n=Sum("count"))
        .order_by("-n", "reason")[:limit]
    )
    catalogue = reason_catalogue([code for code, _n in rows])
    return [
        ReasonCount(code, catalogue[code].text("staff", language) if code in catalogue else code, n)
        for code, n in rows
    ]


def runs_in_progress() -> list[RescoreRun]:
    return list(
        RescoreRun.objects.filter(
            state__in=["queued", "computing", "waiting", "applying", "reverting"],
            account__isnull=True,
        )
        .select_related("policy", "started_by")
        .order_by("-created_at")[:5]
    )


@dataclass(frozen=True)
class WatchRow:
    account: Account
    cutoff: int
    band_below: str


def watch_list(*, margin: int = 10, limit: int = 10) -> list[WatchRow]:
    """Active accounts scoring within `margin` points above a band cut-off of the
    active policy: one bad signal moves them to a lower band and ceiling.
    Largest limits first."""
    active = Policy.objects.filter(state="active").only("rules").first()
    if active is None:
        return []
    bands = policy.parse_policy(active.rules).bands
    edges = [(band.min_score, lower.name) for band, lower in pairwise(bands)]
    near = Q()
    for cutoff, _lower in edges:
        near |= Q(score__gte=cutoff, score__lt=cutoff + margin)
    if not edges:
        return []
    accounts = (
        Account.objects.filter(near, status=Account.Status.ACTIVE)
        .only("reference", "score", "band", "current_limit", "status")
        .order_by("-current_limit", "id")[:limit]
    )
    rows = []
    for account in accounts:
        cutoff, lower = next(
            (c, name) for c, name in edges if c <= (account.score or 0) < c + margin
        )
        rows.append(WatchRow(account, cutoff, lower))
    return rows


RULE_LABELS: dict[str, Any] = {
    "close_dpd": _lazy("Close the line at days past due of at least"),
    "close_on_public_record": _lazy("Close on a bad public record"),
    "min_age": _lazy("Minimum age"),
    "overdue_reduce_pct": _lazy("Cut while overdue (%)"),
    "multi_lending_applications_30d": _lazy("Multi-lending: applications in 30 days of at least"),
    "multi_lending_reduce_pct": _lazy("Multi-lending cut (%)"),
    "utilization_threshold": _lazy("High utilisation: utilisation of at least"),
    "utilization_months": _lazy("High utilisation: for at least (months)"),
    "utilization_reduce_pct": _lazy("High-utilisation cut (%)"),
    "linked_risk_threshold": _lazy("Linked risk: share of bad linked accounts of at least"),
    "linked_risk_reduce_pct": _lazy("Linked-risk cut (%)"),
    "hysteresis_pct": _lazy("Hysteresis: no change smaller than (%)"),
    "raise_cap_pct": _lazy("A raise is at most (% per cycle)"),
    "raise_good_cycles": _lazy("Good cycles needed before a raise"),
    "reopen_limit": _lazy("Limit of a reopened line"),
    "cooldown_days": _lazy("Cool-down after a closure (days)"),
    "overlay_factor": _lazy("Portfolio overlay factor"),
    "overlay_rationale": _lazy("Overlay rationale"),
    "breaker_max_accounts_cut_pct": _lazy("Circuit breaker: accounts cut above (%)"),
    "breaker_max_exposure_cut_pct": _lazy("Circuit breaker: exposure removed above (%)"),
    "rounding": _lazy("Cuts are rounded down to a multiple of"),
    "reason_min_points": _lazy("A score factor is a reason from (points lost)"),
}


@dataclass(frozen=True)
class PolicyView:
    policy: Policy
    bands: list[dict[str, Any]]
    rules: list[tuple[Any, Any]]  # (label, value)


def policy_versions() -> list[PolicyView]:
    """Every policy version, newest first, with its thresholds in words."""
    views = []
    for version in Policy.objects.select_related("author", "approver").order_by("-version"):
        rules = dict(version.rules)
        for name, default in policy.READ_AS_DEFAULT.items():
            rules.setdefault(name, default)  # what the version is read with
        bands = rules.pop("bands", [])
        views.append(
            PolicyView(
                policy=version,
                bands=bands,
                rules=[(RULE_LABELS.get(name, name), value) for name, value in rules.items()],
            )
        )
    return views


def personal_data_reveals(*, limit: int = 100) -> list[PersonalDataReveal]:
    return list(
        PersonalDataReveal.objects.select_related("user", "account").order_by("-revealed_at")[
            :limit
        ]
    )


def latest_account_run(
    account_id: int, *, within: timedelta = timedelta(minutes=10)
) -> RescoreRun | None:
    """The latest single-account re-score of this account, if started recently."""
    return (
        RescoreRun.objects.filter(account_id=account_id, created_at__gte=timezone.now() - within)
        .order_by("-created_at")
        .first()
    )


DECISIONS_CSV_SQL = """
    COPY (
        SELECT d.id, a.reference AS account, d.sequence, d.created_at AS decided_at, d.action,
               d.source, d.old_limit, d.new_limit, d.old_status, d.new_status, d.score_before,
               d.score_after, d.band_before, d.band_after,
               (SELECT string_agg(code, ' ') FROM jsonb_array_elements_text(d.reasons) AS code)
                   AS reasons,
               d.policy_version, d.run_id, actor.username AS actor,
               approver.username AS approver, d.justification, d.reverts_id, d.prev_hash, d.hash
        FROM decisions_limitdecision d
        JOIN accounts_account a ON a.id = d.account_id
        LEFT JOIN auth_user actor ON actor.id = d.actor_id
        LEFT JOIN auth_user approver ON approver.id = d.approver_id
        WHERE d.created_at >= %s AND d.created_at < %s
        ORDER BY d.id
    ) TO STDOUT WITH (FORMAT csv, HEADER true)
"""


def decisions_csv(since: date, until: date) -> Iterator[bytes]:
    """Every decision from `since` to `until` (whole UTC days, both included) as CSV,
    streamed from PostgreSQL's COPY: any number of rows in constant memory."""
    start = datetime.combine(since, time.min, tzinfo=UTC)
    end = datetime.combine(until + timedelta(days=1), time.min, tzinfo=UTC)
    with connection.cursor() as cursor, db.copy(cursor, DECISIONS_CSV_SQL, [start, end]) as copy:
        for block in copy:
            yield bytes(block)


@dataclass(frozen=True)
class LimitAsSet:
    """How the limit of an account that no decision has changed was set, and what the
    active policy makes of it today."""

    opened_at: datetime
    limit: Decimal
    status: str
    policy_version: int
    score: int
    band: str
    ceiling: Decimal
    proposal: str  # the policy's action today: keep, reduce, close ...
    proposed_limit: Decimal
    facts: list[str]  # the rules that fire today and the material scorecard reasons


def limit_as_set(account: Account) -> LimitAsSet | None:
    """For an account without decisions: its opening limit, scored by the active policy
    now (between cycles: nothing is raised), with the figures behind what it would do."""
    signals = getattr(account, "signals", None)
    found = Policy.objects.filter(state=Policy.State.ACTIVE).first()
    if signals is None or found is None:
        return None
    compiled = policy.compile_rules(policy.parse_policy(found.rules))
    inputs = signals.as_dict()
    outcome = policy.evaluate(
        compiled,
        inputs,
        limit=policy.cents(account.current_limit),
        status=account.status,
        in_cooldown=account.in_cooldown(),
        good_cycles=account.good_cycles,
        cycle=False,
    )
    names = [band.name for band in compiled.rules.bands]
    facts = [
        wording.rule_fact(row, band=outcome.band, new_limit=None)
        for row in policy.crossed_thresholds(
            outcome.triggers,
            inputs,
            compiled.rules,
            old_limit=account.current_limit,
            band=outcome.band,
        )
    ]
    material = policy.material_reasons(outcome.contributions, compiled.rules.reason_min_points)
    for code in material[: policy.MAX_REASONS]:
        facts += [wording.score_fact(fact) for fact in explain.scorecard_facts(code, inputs)]
    return LimitAsSet(
        opened_at=account.opened_at,
        limit=account.current_limit,
        status=account.status,
        policy_version=found.version,
        score=outcome.score,
        band=outcome.band,
        ceiling=Decimal(compiled.band_ceilings[names.index(outcome.band)]) / 100,
        proposal=outcome.action,
        proposed_limit=outcome.new_limit_decimal,
        facts=facts,
    )


def account_decision(account_id: int, decision_id: int) -> LimitDecision | None:
    """A decision of this account (None when it belongs to another)."""
    return (
        LimitDecision.objects.filter(account_id=account_id, pk=decision_id)
        .select_related("actor", "approver", "run", "policy")
        .first()
    )
