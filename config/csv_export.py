"""Streaming CSV downloads of list pages (docs/architecture.md, "Lists").

`csv_response` turns an iterator of rows into a StreamingHttpResponse: rows are
written in blocks of `ROWS_PER_BLOCK`, so memory stays flat whatever the count,
and every cell passes `safe_cell`, so no cell is read as a formula by a spreadsheet.
Pure apart from the response class: no ORM here; callers read their rows in
batches (`QuerySet.iterator(chunk_size=...)`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.http import StreamingHttpResponse

ROWS_PER_BLOCK = 500
# A spreadsheet reads a cell starting with one of these as a formula (CSV
# injection); such a cell is written with a leading apostrophe, shown as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# The same rule for text that PostgreSQL's COPY writes (the audit's decisions CSV).
FORMULA_SAFE_SQL = (
    "CASE WHEN left({column}, 1) IN ('=', '+', '-', '@', chr(9), chr(13)) "
    "THEN chr(39) || {column} ELSE {column} END"
)
BOM = "\ufeff"  # so that spreadsheet programs read UTF-8 (Chinese names) as UTF-8


def safe_cell(value: Any) -> str:
    """A cell's text: None → "", Decimal as written (no exponent), dates ISO, and
    text starting like a formula prefixed with an apostrophe. Numbers are left as
    they are (a negative amount stays a number)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def csv_lines(
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    on_done: Callable[[int], None] | None = None,
) -> Iterator[bytes]:
    """The CSV as UTF-8 blocks: a byte-order mark and the header, then the rows
    `ROWS_PER_BLOCK` at a time. `on_done(count)` is called once every row is
    written (not when the client stops reading)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write(BOM)
    writer.writerow([safe_cell(cell) for cell in header])
    count = 0
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
        count += 1
        if count % ROWS_PER_BLOCK == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()
    if on_done is not None:
        on_done(count)


def csv_response(
    *,
    filename: str,
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    on_done: Callable[[int], None] | None = None,
) -> StreamingHttpResponse:
    """A download of `rows` under `filename` (ASCII, no quotes), streamed."""
    response = StreamingHttpResponse(
        csv_lines(header, rows, on_done=on_done), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
