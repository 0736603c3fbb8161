"""Reads of policy administration for pages and for the runs."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.utils.translation import gettext as _
from redis.exceptions import RedisError

import scoring
from accounts.book import SEGMENTS
from accounts.models import Account
from config import charts, failures
from policies import impact
from policies.labels import RULE_LABELS
from policies.models import KillSwitch, Policy, PolicyEvent, Simulation
from scoring import cohorts


def kill_switch() -> KillSwitch | None:
    """The kill switch while it is on, else None."""
    return (
        KillSwitch.objects.filter(id=1, reductions_paused=True).select_related("changed_by").first()
    )


KILL_SWITCH_CACHE_KEY = "limitdesk:kill-switch"


def kill_switch_banner() -> dict[str, Any] | None:
    """What the banner on every page says while the kill switch is on, else None.
    Read from the cache (no query per page); the service clears it on a change."""
    try:
        cached = cache.get(KILL_SWITCH_CACHE_KEY)
    except RedisError:
        cached = None
    if cached is None:
        switch = kill_switch()
        cached = {"paused": False}
        if switch is not None:
            cached = {
                "paused": True,
                "reason": switch.reason,
                "at": switch.changed_at,
                "by": switch.changed_by.username if switch.changed_by else "",
            }
        with contextlib.suppress(RedisError):
            cache.set(KILL_SWITCH_CACHE_KEY, cached, None)
    return cached if cached.get("paused") else None


def reductions_paused() -> bool:
    return KillSwitch.objects.filter(id=1, reductions_paused=True).exists()


def policy_version(version: int) -> Policy | None:
    return Policy.objects.select_related("author", "approver").filter(version=version).first()


def active_policy() -> Policy | None:
    """The version in force. The one place that looks it up."""
    return Policy.objects.filter(state=Policy.State.ACTIVE).first()


def version_in_rollout() -> Policy | None:
    """The version scoring a share of the accounts beside the active one, if any."""
    return Policy.objects.filter(state=Policy.State.ROLLOUT).first()


def policy_events(*, policy_id: int | None = None, limit: int = 50) -> list[PolicyEvent]:
    events = PolicyEvent.objects.select_related("actor", "policy")
    if policy_id is not None:
        events = events.filter(policy_id=policy_id)
    return list(events.order_by("-at", "-id")[:limit])


def latest_simulation(policy_id: int) -> Simulation | None:
    return (
        Simulation.objects.select_related("base", "started_by")
        .filter(policy_id=policy_id)
        .order_by("-created_at", "-id")
        .first()
    )


@dataclass(frozen=True)
class DiffRow:
    key: str
    label: Any
    before: Any
    after: Any


def rules_diff(before: dict[str, Any], after: dict[str, Any]) -> list[DiffRow]:
    """The thresholds that differ, labelled as on the Policy page."""
    rows = []
    for key, old, new in impact.rules_diff(before, after):
        if key.startswith("bands."):
            _bands, name, part = key.split(".")
            label = (
                _("Band %(name)s: from score")
                if part == "min_score"
                else _("Band %(name)s: ceiling")
            ) % {"name": name}
        else:
            label = RULE_LABELS.get(key, key)
        rows.append(DiffRow(key, label, old, new))
    return rows


@dataclass(frozen=True)
class VersionImpact:
    """One version's simulated outcome, ready for the page."""

    version: int
    accounts: int
    totals: dict[str, int]
    bands: list[dict[str, Any]]
    exposure_before: Decimal
    exposure_after: Decimal
    reasons: list[tuple[str, int]]

    @property
    def exposure_change(self) -> Decimal:
        return self.exposure_after - self.exposure_before

    @property
    def exposure_change_pct(self) -> Decimal:
        if not self.exposure_before:
            return Decimal(0)
        return (self.exposure_change * 100 / self.exposure_before).quantize(Decimal("0.1"))


@dataclass(frozen=True)
class Mover:
    reference: str
    old_limit: Decimal
    new_limit: Decimal
    action: str


@dataclass(frozen=True)
class SimulationView:
    simulation: Simulation
    draft: VersionImpact | None
    active: VersionImpact | None
    movers: list[Mover]
    reason_shift: list[tuple[str, int, int]]  # code, active, draft
    failures: failures.Failures
    chunks_left: int  # not scored yet: what Retry takes up when it failed
    # Cut and closure rates and adverse impact ratios per cohort, active beside draft.
    fairness: list[FairnessTable] = field(default_factory=list)

    @property
    def both(self) -> list[VersionImpact]:
        """The active version's impact, then the simulated one's."""
        return [impact for impact in (self.active, self.draft) if impact is not None]

    @property
    def chart(self) -> dict[str, Any]:
        return charts.impact_chart(self.both)


@dataclass(frozen=True)
class FairnessTable:
    """The cohorts of one kind (age band, segment) under two versions side by side."""

    kind: str
    caption: Any
    rows: list[cohorts.CohortComparison]


def fairness_tables(before: dict[str, Any], after: dict[str, Any]) -> list[FairnessTable]:
    """Age bands and segments of two versions' cohort counts ({kind: {label: counts}})."""
    tables = []
    for kind, caption, order in (
        ("age", _("Fairness by age band"), cohorts.AGE_LABELS),
        ("segment", _("Fairness by segment"), SEGMENTS),
    ):
        rows = cohorts.compare(before.get(kind, {}), after.get(kind, {}), order)
        if rows:
            tables.append(FairnessTable(kind, caption, rows))
    return tables


def _impact(version: int, summary: dict[str, Any], rules: dict[str, Any]) -> VersionImpact:
    bands = [band["name"] for band in rules.get("bands", [])]
    return VersionImpact(
        version=version,
        accounts=summary.get("accounts", 0),
        totals=impact.action_totals(summary),
        bands=impact.band_rows(summary, bands),
        exposure_before=Decimal(summary.get("exposure_before", 0)) / 100,
        exposure_after=Decimal(summary.get("exposure_after", 0)) / 100,
        reasons=sorted(summary.get("reasons", {}).items(), key=lambda item: (-item[1], item[0])),
    )


def simulation_view(simulation: Simulation) -> SimulationView:
    results = simulation.results or {}
    draft = results.get("draft")
    active = results.get("active")
    movers_raw = (draft or {}).get("movers", [])
    references = dict(
        Account.objects.filter(pk__in=[m[0] for m in movers_raw]).values_list("id", "reference")
    )
    movers = [
        Mover(references.get(account_id, "?"), Decimal(old) / 100, Decimal(new) / 100, action)
        for account_id, old, new, action in movers_raw
    ]
    codes = sorted(set((draft or {}).get("reasons", {})) | set((active or {}).get("reasons", {})))
    shift = [
        (
            code,
            (active or {}).get("reasons", {}).get(code, 0),
            (draft or {}).get("reasons", {}).get(code, 0),
        )
        for code in codes
    ]
    shift.sort(key=lambda row: (-abs(row[2] - row[1]), row[0]))
    return SimulationView(
        simulation=simulation,
        draft=_impact(simulation.policy.version, draft, simulation.rules) if draft else None,
        active=_impact(simulation.base.version, active, simulation.base.rules) if active else None,
        movers=movers,
        reason_shift=shift,
        failures=failures.failures_of(simulation.failures),
        chunks_left=simulation.chunks_total - simulation.chunks_done,
        fairness=fairness_tables(
            (active or {}).get("cohorts", {}), (draft or {}).get("cohorts", {})
        )
        if draft and active
        else [],
    )


def simulation_current(policy_obj: Policy, simulation: Simulation | None) -> bool:
    """The simulation ran on the thresholds the draft holds now."""
    return (
        simulation is not None
        and simulation.state == Simulation.State.DONE
        and simulation.rules == policy_obj.rules
    )


def rollout_accounts(share_pct: int, references: list[str]) -> int:
    """How many of these references a share reaches (for tests and the page)."""
    cutoff = scoring.rollout_cutoff(share_pct)
    return sum(scoring.rollout_bucket(reference) < cutoff for reference in references)


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
        for name, default in scoring.READ_AS_DEFAULT.items():
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


@dataclass(frozen=True)
class VersionChanges:
    """A version on the Policy page: what it changed against the version before it."""

    view: PolicyView
    previous: int | None  # the version number it is compared with
    changes: list[DiffRow]
    open: bool  # in force or still to come: shown unfolded, with every threshold


def policy_versions_with_changes() -> list[VersionChanges]:
    """Every version, newest first, each with its changes against the one before it
    (stored versions read with READ_AS_DEFAULT for thresholds added later)."""
    views = policy_versions()
    rows = []
    for position, view in enumerate(views):
        older = views[position + 1] if position + 1 < len(views) else None
        rows.append(
            VersionChanges(
                view=view,
                previous=older.policy.version if older else None,
                changes=rules_diff(_read_as(older.policy.rules), _read_as(view.policy.rules))
                if older
                else [],
                open=view.policy.state != Policy.State.RETIRED,
            )
        )
    return rows


def _read_as(rules: dict[str, Any]) -> dict[str, Any]:
    return {**scoring.READ_AS_DEFAULT, **rules}
