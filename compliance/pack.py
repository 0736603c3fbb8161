"""The evidence pack's formats, pure: no ORM, no I/O beyond the streams handed in
(docs/architecture.md, "Evidence pack").

A pack is a zip of CSVs, a PDF report, `manifest.json` (the SHA-256 of every file,
the period, the parameters) and `manifest.sig` (its HMAC-SHA256). The CSVs are
reproducible: the same data and period give the same bytes — rows in a fixed
order, Decimal as written, UTC timestamps, fixed column names (not translated), no
generation time. The PDF carries its generation time, so it is not.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import json
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import IO, Any
from xml.sax.saxutils import escape

from django.utils.translation import gettext as _

from config.csv_export import csv_lines

FORMAT = "limitdesk-evidence-pack/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
REPORT = "report.pdf"
# Longest period one pack covers.
MAX_DAYS = 366


class PeriodError(ValueError):
    """A period that cannot be packed; the message is for the person."""


@dataclass(frozen=True)
class Period:
    """Whole UTC days, both included."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time.min, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The first instant after the period (exclusive)."""
        return datetime.combine(self.last + timedelta(days=1), time.min, tzinfo=UTC)

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    def as_json(self) -> dict[str, str]:
        return {
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
            "start_utc": utc_text(self.start),
            "end_utc_exclusive": utc_text(self.end),
        }


def last_calendar_month(today: date) -> Period:
    """The default period: the whole calendar month before `today`'s."""
    last = today.replace(day=1) - timedelta(days=1)
    return Period(last.replace(day=1), last)


def month_of(day: date) -> Period:
    return Period(day.replace(day=1), day.replace(day=calendar.monthrange(day.year, day.month)[1]))


def period_checked(first: date, last: date, *, today: date) -> Period:
    """The period, or PeriodError: ordered, not in the future, at most MAX_DAYS."""
    if last < first:
        raise PeriodError(_("The end of the period is before its start."))
    if last >= today:
        raise PeriodError(
            _("A pack covers whole days that have ended: end the period yesterday or before.")
        )
    if (last - first).days + 1 > MAX_DAYS:
        raise PeriodError(_("A pack covers at most %(days)s days.") % {"days": MAX_DAYS})
    return Period(first, last)


# --------------------------------------------------------------------------
# Cells


def utc_text(moment: datetime | None) -> str:
    """A timestamp in UTC, to the microsecond, ending in Z; "" for none."""
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def rate(part: int, whole: int) -> str:
    """part / whole to four places as text ("0.2500"); "" when whole is 0."""
    if not whole:
        return ""
    return str((Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"), ROUND_HALF_UP))


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """One CSV as the list exports write it (UTF-8 with a byte-order mark, CRLF, every
    cell through `safe_cell`: no cell reads as a formula)."""
    return b"".join(csv_lines(header, rows))


@dataclass(frozen=True)
class Table:
    """One CSV of the pack: its name, header and rows, in their final order."""

    name: str
    header: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    def content(self) -> bytes:
        return csv_bytes(self.header, self.rows)


# --------------------------------------------------------------------------
# Manifest


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class FileEntry:
    name: str
    sha256: str
    size: int
    rows: int | None  # data rows of a CSV; None for the PDF
    reproducible: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "sha256": self.sha256,
            "bytes": self.size,
            "rows": self.rows,
            "reproducible": self.reproducible,
        }


def manifest_bytes(
    *,
    period: Period,
    files: Sequence[FileEntry],
    parameters: Mapping[str, Any],
    generated: Mapping[str, Any],
) -> bytes:
    """The manifest as canonical JSON (sorted keys, two-space indent, final newline).

    `parameters` are what the CSVs depend on besides the data (the period, the
    database); `generated` what they do not (when, by whom, the checkpoint check)."""
    document = {
        "format": FORMAT,
        "period": period.as_json(),
        "parameters": dict(parameters),
        "files": [entry.as_json() for entry in sorted(files, key=lambda e: e.name)],
        "reproducible": sorted(entry.name for entry in files if entry.reproducible),
        "not_reproducible": {
            entry.name: "carries the time it was generated"
            for entry in files
            if not entry.reproducible
        },
        "generated": dict(generated),
    }
    return (json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


class ManifestError(ValueError):
    """A manifest that cannot be read; the message says why."""


@dataclass(frozen=True)
class Manifest:
    period: Period
    files: list[FileEntry]
    parameters: dict[str, Any]
    generated: dict[str, Any]


def manifest_read(data: bytes) -> Manifest:
    try:
        document = json.loads(data.decode())
        if document.get("format") != FORMAT:
            raise ManifestError(f"it is not a {FORMAT} manifest")
        period = Period(
            date.fromisoformat(document["period"]["from"]),
            date.fromisoformat(document["period"]["to"]),
        )
        files = [
            FileEntry(
                name=str(entry["name"]),
                sha256=str(entry["sha256"]),
                size=int(entry["bytes"]),
                rows=entry.get("rows"),
                reproducible=bool(entry["reproducible"]),
            )
            for entry in document["files"]
        ]
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        if isinstance(error, ManifestError):
            raise
        raise ManifestError(f"it cannot be read ({error})") from None
    return Manifest(period, files, document.get("parameters", {}), document.get("generated", {}))


def signature(key: bytes, manifest: bytes) -> str:
    """HMAC-SHA256 of the manifest under the audit checkpoint key, hex."""
    return hmac.new(key, manifest, hashlib.sha256).hexdigest()


def signature_ok(key: bytes, manifest: bytes, signed: str) -> bool:
    return hmac.compare_digest(signature(key, manifest), signed.strip())


# --------------------------------------------------------------------------
# The zip


def zip_entry(period: Period, name: str) -> zipfile.ZipInfo:
    """A zip entry dated at the period's end, so the archive carries no build time."""
    end = period.end
    info = zipfile.ZipInfo(name, date_time=(end.year, end.month, end.day, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def zip_write(
    target: IO[bytes], period: Period, members: Iterable[tuple[str, Iterable[bytes]]]
) -> None:
    """Write the members (name, blocks of bytes) in order into a zip on `target`."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for name, blocks in members:
            with zf.open(zip_entry(period, name), "w", force_zip64=True) as member:
                for block in blocks:
                    member.write(block)


def zip_members(source: IO[bytes]) -> Iterator[tuple[str, bytes]]:
    """(name, content) of every member of a zip, in the archive's order."""
    with zipfile.ZipFile(source) as zf:
        for info in zf.infolist():
            yield info.filename, zf.read(info)


# --------------------------------------------------------------------------
# Charts, drawn on the server as SVG (no script in a PDF)

FONT = "font-family='DejaVu Sans, WenQuanYi Micro Hei, sans-serif'"


def bar_chart_svg(
    *, title: str, bars: Sequence[tuple[str, int, str]], width: int = 640, bar_height: int = 22
) -> str:
    """Horizontal bars: (label, value, colour) each, with the value written beside it."""
    label_width, gap, top = 200, 6, 30
    height = top + len(bars) * (bar_height + gap) + 10
    biggest = max([value for _label, value, _colour in bars] + [1])
    room = width - label_width - 90
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' role='img' aria-label='{escape(title)}'>",
        f"<title>{escape(title)}</title>",
        f"<text x='0' y='18' {FONT} font-size='14' font-weight='bold'>{escape(title)}</text>",
    ]
    for index, (label, value, colour) in enumerate(bars):
        y = top + index * (bar_height + gap)
        length = round(room * value / biggest) if value else 0
        parts += [
            f"<text x='{label_width - 8}' y='{y + bar_height - 6}' text-anchor='end' {FONT} "
            f"font-size='12'>{escape(label)}</text>",
            f"<rect x='{label_width}' y='{y}' width='{length}' height='{bar_height}' "
            f"fill='{colour}' stroke='#333' stroke-width='0.5'/>",
            f"<text x='{label_width + length + 6}' y='{y + bar_height - 6}' {FONT} "
            f"font-size='12'>{value:,}</text>",
        ]
    parts.append("</svg>")
    return "".join(parts)


def daily_chart_svg(
    *,
    title: str,
    days: Sequence[date],
    series: Sequence[tuple[str, str, Mapping[date, int]]],
    width: int = 640,
    height: int = 240,
) -> str:
    """Stacked columns per day: series (label, colour, counts by day), with a legend."""
    left, bottom, top = 50, 40, 30
    plot_h = height - top - bottom
    totals = [sum(counts.get(day, 0) for _l, _c, counts in series) for day in days]
    biggest = max([*totals, 1])
    step = (width - left - 10) / max(len(days), 1)
    column = max(step * 0.8, 1)
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height + 20}' "
        f"viewBox='0 0 {width} {height + 20}' role='img' aria-label='{escape(title)}'>",
        f"<title>{escape(title)}</title>",
        f"<text x='0' y='18' {FONT} font-size='14' font-weight='bold'>{escape(title)}</text>",
        f"<line x1='{left}' y1='{top + plot_h}' x2='{width - 10}' y2='{top + plot_h}' "
        "stroke='#333'/>",
        f"<text x='{left - 6}' y='{top + 10}' text-anchor='end' {FONT} "
        f"font-size='10'>{biggest:,}</text>",
        f"<text x='{left - 6}' y='{top + plot_h}' text-anchor='end' {FONT} font-size='10'>0</text>",
    ]
    for index, day in enumerate(days):
        x = left + index * step
        y = float(top + plot_h)
        for _label, colour, counts in series:
            value = counts.get(day, 0)
            if not value:
                continue
            h = plot_h * value / biggest
            y -= h
            parts.append(
                f"<rect x='{x:.1f}' y='{y:.1f}' width='{column:.1f}' height='{h:.1f}' "
                f"fill='{colour}'/>"
            )
        if index == 0 or index == len(days) - 1 or day.day == 15:
            parts.append(
                f"<text x='{x:.1f}' y='{top + plot_h + 14}' {FONT} "
                f"font-size='10'>{day.isoformat()}</text>"
            )
    x = left
    for label, colour, _counts in series:
        parts += [
            f"<rect x='{x}' y='{height}' width='10' height='10' fill='{colour}'/>",
            f"<text x='{x + 14}' y='{height + 9}' {FONT} font-size='10'>{escape(label)}</text>",
        ]
        x += 20 + 7 * len(label)
    parts.append("</svg>")
    return "".join(parts)
