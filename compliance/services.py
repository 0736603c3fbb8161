"""Evidence packs: started by an auditor, built by a worker, verified against the
database (docs/architecture.md, "Evidence pack")."""

from __future__ import annotations

import contextlib
import hashlib
import json
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from accounts import permissions as perms
from accounts.access import may
from compliance import pack, selectors
from compliance.models import EvidencePack
from compliance.pack import Period, Table
from config import charts, db, failures, queue
from config.queue import QUEUE_ERRORS
from decisions import audit_trail
from decisions.reason_labels import reason_label

# The steps a worker goes through, in order; the page shows the one it is on.
STEPS = (
    "decisions",
    "policy versions",
    "human oversight",
    "notices",
    "kill switch and circuit breaker",
    "chain heads",
    "audit chain",
    "report",
    "zip",
)
HEADS = "chain_heads.csv"
# Connections that recompute the audit chain's links of a pack's period, a slice of time
# each, beside the one that reads the rest (docs/architecture.md, "Evidence pack").
CHAIN_CONNECTIONS = 2
BLOCK = 1 << 20


class PackError(ValueError):
    """A pack that cannot be started; the message is for the person."""


def pack_root() -> Path:
    return Path(settings.EVIDENCE_PACK_ROOT)


def pack_path(evidence_pack: EvidencePack) -> Path | None:
    """The pack's zip on disk; None while it has none."""
    if not evidence_pack.file_name:
        return None
    return pack_root() / evidence_pack.file_name


# --------------------------------------------------------------------------
# Start


def pack_start(*, actor: Any, first: date, last: date) -> EvidencePack:
    """Queue a pack of the period (whole UTC days, both included) for the worker.
    Refused with the reason, and nothing created, for a role without EXPORT_AUDIT, a
    period that has not ended or is too long, or one already being built."""
    if not may(actor, perms.EXPORT_AUDIT):
        raise PackError(_("Your role cannot build evidence packs."))
    try:
        period = pack.period_checked(first, last, today=timezone.now().date())
    except pack.PeriodError as error:
        raise PackError(str(error)) from None
    building = EvidencePack.objects.filter(
        period_from=period.first,
        period_to=period.last,
        state__in=[EvidencePack.State.QUEUED, EvidencePack.State.RUNNING],
    )
    if building.exists():
        raise PackError(_("A pack of this period is being built: wait for it."))
    created = EvidencePack.objects.create(
        period_from=period.first,
        period_to=period.last,
        started_by=actor,
        steps_total=len(STEPS),
        language=translation.get_language() or settings.LANGUAGE_CODE,
    )
    try:
        queue.send("compliance.tasks.build_evidence_pack", created.pk)
    except QUEUE_ERRORS:
        EvidencePack.objects.filter(pk=created.pk).delete()
        raise PackError(
            _("The task queue (Redis) is unavailable: nothing was started. Try again in a minute.")
        ) from None
    return created


# --------------------------------------------------------------------------
# The tables


@dataclass
class Heads:
    """The chain heads' CSV as it was streamed: its hash, size and data rows."""

    sha256: str = ""
    size: int = 0
    rows: int = 0


@dataclass
class PackData:
    period: Period
    tables: list[Table] = field(default_factory=list)
    chain: selectors.ChainSegment = field(default_factory=selectors.ChainSegment)
    heads: Heads = field(default_factory=Heads)

    def table(self, name: str) -> Table:
        return next(table for table in self.tables if table.name == name)


def _summary(data: PackData) -> Table:
    """The key figures of every part, one file to read first."""
    rows: list[tuple[Any, ...]] = []
    by_action: dict[str, int] = {}
    for action, _source, count, *_rest in data.table("decisions_by_action.csv").rows:
        by_action[action] = by_action.get(action, 0) + count
    rows.append(("decisions", "all", sum(by_action.values())))
    rows += [("decisions", action, count) for action, count in sorted(by_action.items())]
    notices = data.table("notice_timeliness.csv")
    totals = [sum(row[index] for row in notices.rows) for index in range(2, 9)]
    rows.append(("notices", "all", totals[0]))
    rows += [
        ("notices", name, count)
        for name, count in zip(
            (*selectors.NOTICE_CATEGORIES, "pending_past_due_at_end"), totals[1:], strict=True
        )
    ]
    oversight = data.table("human_oversight.csv")
    rows += [
        ("appeals", measure, value)
        for measure, group, value in oversight.rows
        if group == "all" and measure.startswith(("appeals_", "overturn"))
    ]
    sla = data.table("appeals_sla.csv").rows
    within, after = sum(row[3] for row in sla), sum(row[4] for row in sla)
    rows += [
        ("sla", "decided_within_sla", within),
        ("sla", "decided_after_sla", after),
        ("sla", "open_past_due_at_end", sum(row[5] for row in sla)),
        ("sla", "sla_met_rate", pack.rate(within, within + after)),
    ]
    events = data.table("kill_switch_and_breaker.csv").rows
    rows += [
        ("events", "kill_switch", sum(1 for row in events if row[1].startswith("kill_switch"))),
        ("events", "circuit_breaker_held", sum(1 for row in events if row[1].startswith("circ"))),
        ("audit_chain", "decisions_checked", data.chain.decisions),
        ("audit_chain", "accounts_checked", data.chain.accounts),
        ("audit_chain", "broken_links", len(data.chain.broken)),
        ("audit_chain", "verdict", "broken" if data.chain.broken else "intact"),
        ("audit_chain", "accounts_with_a_head_at_end", data.heads.rows),
        ("audit_chain", "chain_heads_sha256", data.heads.sha256),
    ]
    return Table("summary.csv", ("section", "measure", "value"), rows)


def pack_tables(
    period: Period,
    *,
    heads_sink: Callable[[bytes], Any] | None = None,
    on_step: Callable[[int], None] | None = None,
) -> PackData:
    """Every CSV of the pack for the period, read in one REPEATABLE READ snapshot; the
    chain heads streamed to `heads_sink` (hashed here), the others kept as tables."""
    data = PackData(period)

    def step(index: int) -> None:
        if on_step is not None:
            on_step(index)

    own_transaction = not connection.in_atomic_block
    with transaction.atomic(), contextlib.ExitStack() as stack:
        cursor = stack.enter_context(connection.cursor())
        suspects: list[Future[set[int]]] = []
        if own_transaction:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            # The audit chain's recomputation, the costliest read, runs on connections of
            # its own in the same snapshot while this one reads the rest.
            submit = stack.enter_context(db.shared_snapshot(CHAIN_CONNECTIONS))
            suspects = [
                submit(selectors.chain_suspects, start, end)
                for start, end in selectors.chain_slices(period, CHAIN_CONNECTIONS)
            ]
        # Inside a caller's transaction (a test's) the isolation is the caller's, and no
        # other connection can see its rows: everything is read here, one after another.
        step(0)
        tables = [
            selectors.decisions_by_action(period),
            selectors.decisions_by_reason(period),
            selectors.decisions_by_day(period),
        ]
        step(1)
        versions, numbers = selectors.policy_versions(period)
        tables += [versions, selectors.policy_simulations(numbers), selectors.policy_events(period)]
        step(2)
        tables += [selectors.human_oversight(period), selectors.appeals_sla(period)]
        step(3)
        tables.append(selectors.notice_timeliness(period))
        step(4)
        tables.append(selectors.kill_switch_and_breaker(period))
        step(5)
        hasher = hashlib.sha256()
        lines = 0

        def take(block: bytes) -> None:
            nonlocal lines
            hasher.update(block)
            data.heads.size += len(block)
            lines += block.count(b"\n")
            if heads_sink is not None:
                heads_sink(block)

        selectors.chain_heads(period, take)
        data.heads.sha256 = hasher.hexdigest()
        data.heads.rows = max(lines - 1, 0)  # less the header (no field holds a newline)
        step(6)
        counts = selectors.chain_counts(period)
        suspected = (
            set().union(*(future.result() for future in suspects))
            if suspects
            else selectors.chain_suspects(period.start, period.end)
        )
        data.chain = selectors.chain_walk(period, counts, suspected)
        data.tables = [*tables, data.chain.table()]
    data.tables.insert(0, _summary(data))
    return data


# --------------------------------------------------------------------------
# Build


class _Progress:
    """The step a worker is on, written on a connection of its own: the build reads in
    one long transaction, whose writes nobody would see until it ends."""

    def __init__(self, pack_id: int) -> None:
        self.pack_id = pack_id
        self.connection = connections.create_connection(DEFAULT_DB_ALIAS)

    def __call__(self, index: int) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(
                "UPDATE compliance_evidencepack SET steps_done = %s, step = %s WHERE id = %s",
                [index, STEPS[index], self.pack_id],
            )

    def close(self) -> None:
        self.connection.close()


def _checkpoint_state() -> dict[str, Any]:
    """The latest signed audit checkpoint against the database now (not reproducible:
    a new checkpoint is written every day)."""
    try:
        check = audit_trail.audit_checkpoint_check()
    except ImproperlyConfigured as error:
        return {"verdict": "not checked", "problem": str(error)}
    if check.path is None:
        return {"verdict": "no checkpoint yet", "directory": str(check.directory)}
    if check.problem:
        return {"verdict": "untrusted", "checkpoint": check.path.name, "problem": check.problem}
    assert check.checkpoint is not None
    return {
        "verdict": "mismatch" if check.mismatches else "matches",
        "checkpoint": check.path.name,
        "taken_at_utc": pack.utc_text(check.checkpoint.taken_at),
        "accounts_compared": check.accounts,
        "buckets_mismatched": len(check.mismatches),
    }


def _signing_key() -> bytes | None:
    try:
        return audit_trail.audit_checkpoint_key()
    except ImproperlyConfigured:
        return None


def _report(
    data: PackData,
    *,
    evidence_pack: EvidencePack,
    generated_at: datetime,
    checkpoint: dict[str, Any],
    files: list[pack.FileEntry],
) -> bytes:
    """The PDF report (WeasyPrint), in the language of the person who asked for it."""
    from weasyprint import HTML

    with translation.override(evidence_pack.language or settings.LANGUAGE_CODE):
        return HTML(
            string=report_html(
                data,
                generated_at=generated_at,
                started_by=evidence_pack.started_by.username,
                checkpoint=checkpoint,
                files=files,
            )
        ).write_pdf()


def report_html(
    data: PackData,
    *,
    generated_at: datetime,
    started_by: str,
    checkpoint: dict[str, Any],
    files: list[pack.FileEntry],
) -> str:
    """The report's HTML, charts drawn as SVG: what WeasyPrint turns into the PDF."""
    days = data.period.days
    by_day: dict[str, dict[date, int]] = {}
    for day, action, count in data.table("decisions_by_day.csv").rows:
        by_day.setdefault(action, {})[day] = count
    labels = {
        "raise": _("raised"), "reduce": _("reduced"), "close": _("closed"),
        "reopen": _("reopened"), "set": _("set by hand"), "freeze": _("frozen"),
        "unfreeze": _("unfrozen"), "restore": _("restored"),
    }  # fmt: skip
    daily = pack.daily_chart_svg(
        title=_("Decisions per day (UTC)"),
        days=days,
        series=[
            (str(labels.get(action, action)), charts.ACTION_COLOURS.get(action, "#4f5b69"), counts)
            for action, counts in sorted(by_day.items())
        ],
    )
    summary = {
        (section, measure): value for section, measure, value in data.table("summary.csv").rows
    }
    notice_words = {
        "within_clock": _("within the clock"),
        "late": _("late"),
        "pending": _("pending"),
        "failed": _("failed (dead letter)"),
        "not_required": _("not required"),
    }
    notice_colours = {
        "within_clock": charts.OKABE_ITO["bluish_green"],
        "late": charts.OKABE_ITO["orange"],
        "pending": charts.OKABE_ITO["sky_blue"],
        "failed": charts.OKABE_ITO["vermillion"],
        "not_required": charts.OKABE_ITO["black"],
    }
    notices = pack.bar_chart_svg(
        title=_("Customer notices of the period"),
        bars=[
            (str(notice_words[name]), int(summary[("notices", name)]), notice_colours[name])
            for name in selectors.NOTICE_CATEGORIES
        ],
    )
    reasons = [
        (code, str(reason_label(code)), action, principal, stated)
        for code, action, principal, stated in data.table("decisions_by_reason.csv").rows
    ]
    return render_to_string(
        "compliance/report.html",
        {
            "period": data.period,
            "generated_at": pack.utc_text(generated_at),
            "started_by": started_by,
            "daily_chart": mark_safe(daily),  # noqa: S308 - drawn here, every text escaped
            "notices_chart": mark_safe(notices),  # noqa: S308 - as above
            "summary": data.table("summary.csv").rows,
            "by_action": data.table("decisions_by_action.csv").rows,
            "reasons": reasons,
            "versions": data.table("policy_versions.csv").rows,
            "simulations": data.table("policy_simulations.csv").rows,
            "oversight": data.table("human_oversight.csv").rows,
            "sla": data.table("appeals_sla.csv").rows,
            "events": data.table("kill_switch_and_breaker.csv").rows,
            "chain": data.chain,
            "heads": data.heads,
            "checkpoint": checkpoint,
            "files": files,
        },
    )


def pack_build(*, pack_id: int) -> bool:
    """Build a queued pack: tables, chain heads, report, manifest, signature, zip; False
    when it was not queued (a message delivered twice)."""
    with transaction.atomic(durable=True):
        found = (
            EvidencePack.objects.select_for_update(of=("self",))
            .select_related("started_by")
            .filter(pk=pack_id, state=EvidencePack.State.QUEUED)
            .first()
        )
        if found is None:
            return False
        found.state = EvidencePack.State.RUNNING
        found.started_at = timezone.now()
        found.steps_total = len(STEPS)
        found.save(update_fields=["state", "started_at", "steps_total"])
    period = Period(found.period_from, found.period_to)
    root = pack_root()
    root.mkdir(parents=True, exist_ok=True)
    progress = _Progress(pack_id)
    with tempfile.TemporaryFile(dir=root) as heads_file:
        try:
            data = pack_tables(period, heads_sink=heads_file.write, on_step=progress)
            progress(STEPS.index("report"))
            files = [
                pack.FileEntry(
                    table.name,
                    pack.sha256_hex(content := table.content()),
                    len(content),
                    len(table.rows),
                    True,
                )
                for table in data.tables
            ]
            files.append(
                pack.FileEntry(HEADS, data.heads.sha256, data.heads.size, data.heads.rows, True)
            )
            generated_at = timezone.now()
            checkpoint = _checkpoint_state()
            report = _report(
                data,
                evidence_pack=found,
                generated_at=generated_at,
                checkpoint=checkpoint,
                files=files,
            )
            files.append(
                pack.FileEntry(pack.REPORT, pack.sha256_hex(report), len(report), None, False)
            )
            key = _signing_key()
            manifest = pack.manifest_bytes(
                period=period,
                files=files,
                parameters={
                    "database": connection.settings_dict["NAME"],
                    "csv": "UTF-8 with a byte-order mark, CRLF, cells as config.csv_export",
                    HEADS: "PostgreSQL COPY CSV: UTF-8, LF, each account's latest decision "
                    "before the period's end",
                    "timestamps": "UTC, ISO 8601, microseconds, Z",
                },
                generated={
                    "at_utc": pack.utc_text(generated_at),
                    "by": found.started_by.username,
                    "pack": found.pk,
                    "audit_chain_in_period": "broken" if data.chain.broken else "intact",
                    "audit_checkpoint": checkpoint,
                    "signature": "HMAC-SHA256 under the audit checkpoint key"
                    if key
                    else "none: no audit checkpoint key is configured",
                },
            )
            progress(STEPS.index("zip"))
            name = f"evidence-pack-{found.pk}-{period.first}-{period.last}.zip"
            target = root / name
            partial = root / f".{name}.partial"
            heads_file.seek(0)
            members: list[tuple[str, Any]] = [
                (pack.REPORT, [report]),
                *[(table.name, [table.content()]) for table in data.tables],
                (HEADS, _blocks(heads_file)),
                (pack.MANIFEST, [manifest]),
            ]
            if key:
                members.append((pack.SIGNATURE, [pack.signature(key, manifest).encode() + b"\n"]))
            with partial.open("wb") as out:
                pack.zip_write(out, period, members)
            digest = hashlib.sha256()
            with partial.open("rb") as written:
                for block in _blocks(written):
                    digest.update(block)
            partial.replace(target)
        finally:
            progress.close()
    EvidencePack.objects.filter(pk=pack_id).update(
        state=EvidencePack.State.DONE,
        steps_done=len(STEPS),
        step="",
        file_name=name,
        size=target.stat().st_size,
        sha256=digest.hexdigest(),
        manifest=_manifest_json(manifest),
        error="",
        finished_at=timezone.now(),
    )
    return True


def _manifest_json(manifest: bytes) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(manifest)
    return loaded


def _blocks(source: IO[bytes]) -> Iterator[bytes]:
    while block := source.read(BLOCK):
        yield block


def pack_fail(*, pack_id: int, error: BaseException) -> None:
    """Mark a pack failed with what went wrong, in words a person can read."""
    record = failures.failure_record(error, phase="compute", chunk=None, at=timezone.now())
    EvidencePack.objects.filter(pk=pack_id).exclude(state=EvidencePack.State.DONE).update(
        state=EvidencePack.State.FAILED, error=record["error"], finished_at=timezone.now()
    )
    for partial in pack_root().glob(f".evidence-pack-{pack_id}-*.partial"):
        partial.unlink(missing_ok=True)


# --------------------------------------------------------------------------
# Verify


@dataclass
class Verification:
    period: Period | None = None
    checked: list[str] = field(default_factory=list)  # what matched, one line each
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.period is not None and not self.problems


def pack_verify(source: IO[bytes] | Path) -> Verification:
    """Check a pack's zip: every file against the manifest's SHA-256, the manifest's
    signature when a key is configured, and every reproducible CSV against the content
    the database gives for the manifest's period now."""
    result = Verification()
    opened = source.open("rb") if isinstance(source, Path) else contextlib.nullcontext(source)
    try:
        with opened as raw:
            members = dict(pack.zip_members(raw))
    except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile) as error:
        result.problems.append(f"The file is not a readable zip ({error}).")
        return result
    manifest_data = members.get(pack.MANIFEST)
    if manifest_data is None:
        result.problems.append(f"The zip holds no {pack.MANIFEST}.")
        return result
    try:
        manifest = pack.manifest_read(manifest_data)
    except pack.ManifestError as error:
        result.problems.append(f"{pack.MANIFEST} cannot be used: {error}.")
        return result
    result.period = manifest.period
    key = _signing_key()
    signed = members.get(pack.SIGNATURE)
    if signed is None:
        result.checked.append(f"{pack.MANIFEST}: not signed (the pack has no {pack.SIGNATURE}).")
    elif key is None:
        result.checked.append(f"{pack.MANIFEST}: signature not checked (no audit checkpoint key).")
    elif pack.signature_ok(key, manifest_data, signed.decode(errors="replace")):
        result.checked.append(f"{pack.MANIFEST}: its signature is valid.")
    else:
        result.problems.append(
            f"{pack.MANIFEST}: its signature does not match: the manifest was changed, or "
            "signed under another key."
        )
    listed = {entry.name for entry in manifest.files}
    for extra in sorted(set(members) - listed - {pack.MANIFEST, pack.SIGNATURE}):
        result.problems.append(f"{extra}: in the zip but not in the manifest.")
    for entry in manifest.files:
        content = members.get(entry.name)
        if content is None:
            result.problems.append(f"{entry.name}: in the manifest but missing from the zip.")
        elif pack.sha256_hex(content) != entry.sha256:
            result.problems.append(
                f"{entry.name}: its SHA-256 does not match the manifest: the file was changed "
                "after the pack was made."
            )
        else:
            result.checked.append(f"{entry.name}: matches the manifest's SHA-256.")
    data = pack_tables(manifest.period)
    now: dict[str, tuple[str, int]] = {
        table.name: (pack.sha256_hex(table.content()), len(table.rows)) for table in data.tables
    }
    now[HEADS] = (data.heads.sha256, data.heads.rows)
    for entry in manifest.files:
        if not entry.reproducible:
            result.checked.append(
                f"{entry.name}: not reproducible (checked against the manifest only)."
            )
            continue
        if entry.name not in now:
            result.problems.append(f"{entry.name}: not a file this version of Limit Desk makes.")
            continue
        sha, rows = now[entry.name]
        if sha != entry.sha256:
            result.problems.append(
                f"{entry.name}: the database now gives different content for "
                f"{manifest.period.first}–{manifest.period.last} ({rows:,} rows now, "
                f"{entry.rows if entry.rows is not None else '?'} in the pack): the data "
                "changed after the pack was made."
            )
        else:
            result.checked.append(f"{entry.name}: recomputed from the database, identical.")
    return result


def pack_file_blocks(evidence_pack: EvidencePack) -> Iterator[bytes] | None:
    """The pack's zip block by block; None when it has none (not built, or removed)."""
    path = pack_path(evidence_pack)
    if path is None or not path.is_file():
        return None

    def blocks() -> Iterator[bytes]:
        with path.open("rb") as source:
            yield from _blocks(source)

    return blocks()
