"""Writing exports (.xlsx and .csv) in the layout officials expect, safe against formula injection.

Every export of fangkong goes through here: a title, a subtitle (area, date), a header whose
columns may be grouped under a merged cell ("住址" over 楼栋/单元/房号), the data, then a footer
(who exported what, when) and a watermark line that names the person the file was made for.
Nothing here knows about residents: callers pass a :class:`Layout` and rows of values.

Entry points:

* :func:`write_xlsx` streams rows into an .xlsx with xlsxwriter's ``constant_memory`` mode, so
  memory stays bounded whatever the number of rows;
* :func:`write_csv` streams rows into a UTF-8 (with BOM) CSV with CRLF line ends;
* :func:`neutralise` is the formula-injection guard both apply to every text cell;
* :func:`display_width` measures text in Excel column units (a hanzi counts 2).

Values in rows: ``None`` is an empty cell; ``str`` is text (always written as text, never
as a number, formula or link, and neutralised); ``int``/``float``/``Decimal`` are numbers in
``"number"`` columns; ``date``/``datetime`` are dates in ``"date"``/``"datetime"`` columns;
anything else, and any value in a column of another kind, is written as its text (see
:func:`cell_text`). Aware datetimes are shown in the current Django time zone.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import math
import os
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import BinaryIO

import xlsxwriter
from django.utils import timezone
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

__all__ = [
    "KINDS",
    "Column",
    "Layout",
    "cell_text",
    "display_width",
    "neutralise",
    "write_csv",
    "write_xlsx",
]

KINDS = ("text", "number", "date", "datetime")
"""The values :attr:`Column.kind` accepts."""

MIN_WIDTH = 6
MAX_WIDTH = 60
"""Bounds of a fitted column width, in Excel character units."""

_WIDTH_PADDING = 2

DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"

_INJECTION_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")

# Excel limits a page header or footer to 255 characters (UTF-16 units) in all; xlsxwriter
# drops a longer one with a warning, so the caller's text is cut to fit instead.
_HEADER_FOOTER_MAX = 255
_PAGE_NUMBERS = "&R第 &P 页 / 共 &N 页"

_CSV_FLUSH_CHARS = 64 * 1024

_EXCEL_ROWS = 1_048_576
"""Rows in an Excel sheet; xlsxwriter silently drops writes below the last one."""

_GREY_FILL = "#D9D9D9"
_WATERMARK_GREY = "#808080"
_TITLE_ROW_HEIGHT = 28


@dataclass(frozen=True)
class Column:
    """One column of an export.

    ``label`` is the header text. ``width`` is in Excel character units; ``None`` fits the
    column to its label and the first rows (see :func:`write_xlsx`). Consecutive columns
    with the same ``group`` share a merged header cell above their labels; a column without
    a group has its label merged over both header rows. ``kind`` is one of :data:`KINDS`
    and says how values of the matching Python type are written (numbers as numbers, dates
    as dates); a value of another type is written as text whatever the kind.
    """

    label: str
    width: float | None = None
    group: str | None = None
    kind: str = "text"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown column kind {self.kind!r}; expected one of {KINDS}")
        # xlsxwriter accepts widths up to 255; zero would hide the column.
        if self.width is not None and not 0 < self.width <= 255:
            raise ValueError(f"column width must be in (0, 255], got {self.width!r}")


@dataclass(frozen=True)
class Layout:
    """What an export looks like apart from its rows.

    ``title`` and ``subtitle`` go above the header, ``footer`` and ``watermark`` below the
    data; empty ones are left out (in the .xlsx the subtitle row stays, blank, so the header
    is always on row 3). ``sheet_name`` must be a valid Excel sheet name (at most 31
    characters, none of ``[]:*?/\\``); xlsxwriter raises otherwise.
    """

    title: str
    subtitle: str = ""
    columns: tuple[Column, ...] = ()
    footer: str = ""
    watermark: str = ""
    sheet_name: str = "Sheet1"


def neutralise(value: object) -> object:
    """Return ``value`` made safe from formula injection (OWASP "CSV injection").

    A ``str`` starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return, or with
    the full-width ``＝``, ``＋``, ``－``, ``＠``, gets a leading apostrophe ``'``, so that
    Excel, WPS and LibreOffice show it as text and never evaluate it. Every other value,
    including every non-``str``, is returned unchanged.

    The full-width forms are what Chinese input methods type; WPS accepts some of them as
    a formula start, and any half-width conversion on the way (Excel's ASC(), our own
    ``to_halfwidth`` when a file is imported again) turns them into the ASCII ones.

    A negative number written as a string, such as ``"-5"``, is neutralised too, on
    purpose: the rule stays a plain prefix test that cannot be fooled ("-5+cmd|..." is
    not a number either), and it costs nothing real, because exports hold text in text
    columns and callers pass numbers as numbers (``-5``, written as a number, untouched).
    """
    return _neutral_text(value) if isinstance(value, str) else value


def _neutral_text(text: str) -> str:
    return "'" + text if text.startswith(_INJECTION_PREFIXES) else text


def display_width(text: str) -> int:
    """Return how many Excel character units ``text`` takes on one line.

    East Asian wide and full-width characters (``unicodedata.east_asian_width`` ``"W"``
    or ``"F"``: hanzi, full-width punctuation and forms) count 2, every other character
    counts 1 (combining marks and line breaks included, for simplicity).
    """
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _local(value: dt.datetime) -> dt.datetime:
    # Spreadsheets have no time zones: show aware datetimes as the reader's wall clock.
    if value.tzinfo is not None and value.utcoffset() is not None:
        return timezone.localtime(value).replace(tzinfo=None)
    return value


def _is_number(value: object) -> bool:
    # bool is an int, but True is no quantity; it is written as text.
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def cell_text(value: object, kind: str = "text") -> str:
    """Return ``value`` as the text a CSV cell (or an .xlsx text cell) holds.

    ``None`` is ``""``; a ``str`` goes through :func:`neutralise`; a ``datetime`` is
    ``"YYYY-MM-DD HH:MM"`` in the current time zone, or ``"YYYY-MM-DD"`` in a ``"date"``
    column; a ``date`` is ``"YYYY-MM-DD"``; a number (``int``, ``float``, ``Decimal``) is
    ``str(value)``, not neutralised (we made that text; ``"-5"`` here is a number); any
    other value is ``str(value)`` neutralised.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return _neutral_text(value)
    if isinstance(value, dt.datetime):
        local = _local(value)
        return local.strftime("%Y-%m-%d" if kind == "date" else "%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m-%d")
    if _is_number(value):
        return str(value)
    return _neutral_text(str(value))


def _columns(layout: Layout) -> tuple[Column, ...]:
    if not layout.columns:
        raise ValueError("the layout has no columns")
    return layout.columns


def _check_row(values: Sequence[object], number: int, width: int) -> None:
    if len(values) != width:
        raise ValueError(
            f"data row {number} has {len(values)} values, the layout has {width} columns"
        )


def _group_runs(columns: Sequence[Column]) -> list[tuple[int, int, str | None]]:
    """(first, last, group) for each run of consecutive columns with the same group;
    every ungrouped column is a run of its own."""
    runs: list[tuple[int, int, str | None]] = []
    for index, column in enumerate(columns):
        if runs and column.group is not None and runs[-1][2] == column.group:
            first, _last, group = runs[-1]
            runs[-1] = (first, index, group)
        else:
            runs.append((index, index, column.group))
    return runs


def _page_text(prefix: str, text: str, suffix: str = "") -> str:
    """``prefix + text + suffix`` as an Excel page header/footer: ``&`` in ``text``
    doubled (it starts a control code), ``text`` cut so the whole fits in 255 units."""
    budget = _HEADER_FOOTER_MAX - len(prefix.encode("utf-16-le")) // 2
    budget -= len(suffix.encode("utf-16-le")) // 2
    pieces = []
    for ch in text:
        piece = "&&" if ch == "&" else ch
        size = len(piece.encode("utf-16-le")) // 2
        if size > budget:
            break
        pieces.append(piece)
        budget -= size
    return prefix + "".join(pieces) + suffix


class _Formats:
    """The cell formats of one workbook."""

    def __init__(self, workbook: xlsxwriter.Workbook, columns: Sequence[Column]) -> None:
        add = workbook.add_format
        self.title = add({"bold": True, "font_size": 16, "align": "center", "valign": "vcenter"})
        self.subtitle = add({"align": "left", "valign": "vcenter"})
        self.header = add(
            {
                "bold": True,
                "align": "center",
                "valign": "vcenter",
                "text_wrap": True,
                "border": 1,
                "pattern": 1,
                "bg_color": _GREY_FILL,
            }
        )
        self.footer = add({"align": "left", "valign": "vcenter"})
        self.watermark = add(
            {"italic": True, "font_color": _WATERMARK_GREY, "align": "left", "valign": "vcenter"}
        )
        # "@" (Text) keeps a cell text when someone edits it in Excel: "0123" stays "0123".
        self.text = add({"border": 1, "num_format": "@"})
        by_kind = {
            "text": self.text,
            "number": add({"border": 1}),
            "date": add({"border": 1, "num_format": DATE_FORMAT}),
            "datetime": add({"border": 1, "num_format": DATETIME_FORMAT}),
        }
        # Per column: the format of its typed values and of its blanks.
        self.values = [by_kind[column.kind] for column in columns]


def write_xlsx(
    out: BinaryIO | str | os.PathLike[str],
    layout: Layout,
    rows: Iterable[Sequence[object]],
    *,
    sample_for_widths: int = 200,
) -> int:
    """Write ``rows`` under ``layout`` as an .xlsx to ``out``; return the data rows written.

    ``out`` is a path or a writable binary file object (it need not be seekable). Nothing
    is written to it unless every row was written: on an error ``out`` is left untouched.
    ``ValueError`` is raised for a row whose length is not the number of columns, and for
    more rows than an Excel sheet holds (1,048,576 in all, title, header and footer
    included). A text longer than Excel's 32,767-character cell limit is cut to it.

    The sheet, top to bottom:

    * row 1: the title, merged across all columns, bold 16pt, centred;
    * row 2: the subtitle, merged across all columns, left-aligned (blank if none);
    * the header, bold, centred, wrapped, thin borders, light grey: with groups, rows 3-4,
      a merged group cell over its columns on row 3 and their labels on row 4, ungrouped
      labels merged over rows 3-4; with no group at all, row 3 only;
    * the data, thin borders: ``str`` values always as text cells (never numbers, formulas
      or links, and passed through :func:`neutralise`), numbers as numbers in ``"number"`` columns,
      dates as ``yyyy-mm-dd`` and datetimes as ``yyyy-mm-dd hh:mm`` in ``"date"`` and
      ``"datetime"`` columns, ``None`` as a blank cell with borders, other values as the
      text of :func:`cell_text`;
    * a merged row with the footer, then one with the watermark (italic, grey), each left
      out when empty.

    Panes are frozen below the header and the autofilter covers the header's label row
    and the data. Printing: landscape A4, one page wide, header rows repeated on every
    page, the watermark centred in the page header, the footer left and "第 N 页 / 共 M 页"
    right in the page footer (each cut to Excel's 255-character limit). The document
    title, author and comments carry the watermark.

    Columns without a width are fitted: the widest :func:`display_width` of the label and
    of the values in the first ``sample_for_widths`` rows, plus 2, kept within 6..60.

    Rows are streamed (xlsxwriter ``constant_memory``): memory does not grow with the
    number of rows, and nothing is buffered, because column widths are only set once the
    sample has gone by (xlsxwriter assembles the sheet's column list at close).
    """
    columns = _columns(layout)
    last_col = len(columns) - 1
    workbook = xlsxwriter.Workbook(
        out,
        {
            "constant_memory": True,
            # Text stays text: "0123" and ID numbers are no numbers, "=x" is no formula.
            "strings_to_numbers": False,
            "strings_to_formulas": False,
            "strings_to_urls": False,
        },
    )
    sheet = workbook.add_worksheet(layout.sheet_name)
    formats = _Formats(workbook, columns)

    # constant_memory writes rows strictly in order: everything below goes top to bottom.
    sheet.set_row(0, _TITLE_ROW_HEIGHT)
    _write_merged_row(sheet, 0, last_col, _neutral_text(layout.title), formats.title)
    _write_merged_row(sheet, 1, last_col, _neutral_text(layout.subtitle), formats.subtitle)
    label_row = _write_header(sheet, 2, columns, formats.header)
    first_data_row = label_row + 1

    widths = [display_width(column.label) for column in columns]
    last_data_row = _EXCEL_ROWS - 1 - bool(layout.footer) - bool(layout.watermark)
    row_number = first_data_row
    count = 0
    for values in rows:
        _check_row(values, count + 1, len(columns))
        if row_number > last_data_row:
            raise ValueError(
                f"more than {last_data_row - first_data_row + 1} data rows do not fit in one "
                "Excel sheet"
            )
        if count < sample_for_widths:
            for index, value in enumerate(values):
                text = cell_text(value, columns[index].kind)
                widths[index] = max(widths[index], display_width(text))
        _write_data_row(sheet, row_number, values, columns, formats)
        row_number += 1
        count += 1

    if layout.footer:
        _write_merged_row(sheet, row_number, last_col, _neutral_text(layout.footer), formats.footer)
        row_number += 1
    if layout.watermark:
        watermark = _neutral_text(layout.watermark)
        _write_merged_row(sheet, row_number, last_col, watermark, formats.watermark)

    for index, column in enumerate(columns):
        width = column.width
        if width is None:
            width = min(MAX_WIDTH, max(MIN_WIDTH, widths[index] + _WIDTH_PADDING))
        sheet.set_column(index, index, width)

    sheet.freeze_panes(first_data_row, 0)
    sheet.autofilter(label_row, 0, max(label_row, first_data_row + count - 1), last_col)
    sheet.set_landscape()
    sheet.set_paper(9)  # A4
    sheet.fit_to_pages(1, 0)  # one page wide, as many pages tall as needed
    sheet.repeat_rows(2, label_row)
    if layout.watermark:
        sheet.set_header(_page_text("&C", layout.watermark))
    sheet.set_footer(
        _page_text("&L", layout.footer, _PAGE_NUMBERS) if layout.footer else _PAGE_NUMBERS
    )

    title = f"{layout.title}（{layout.watermark}）" if layout.watermark else layout.title
    workbook.set_properties(
        {"title": title, "author": layout.watermark, "comments": layout.watermark}
    )
    workbook.close()
    return count


def _write_merged_row(
    sheet: Worksheet, row: int, last_col: int, text: str, cell_format: Format
) -> None:
    if last_col == 0:  # Excel cannot merge a single cell
        sheet.write_string(row, 0, text, cell_format)
    else:
        sheet.merge_range(row, 0, row, last_col, text, cell_format)


def _write_header(
    sheet: Worksheet, first_row: int, columns: Sequence[Column], cell_format: Format
) -> int:
    """Write the header from ``first_row``; return the row of the labels."""
    if all(column.group is None for column in columns):
        for index, column in enumerate(columns):
            sheet.write_string(first_row, index, _neutral_text(column.label), cell_format)
        return first_row

    # merge_range() writes every cell of its range at once, which in constant_memory mode
    # flushes row 3 as soon as a vertical merge pads row 4: the next merge on row 3 is then
    # refused. So the cells are written here row by row, and the merges are registered
    # directly in the worksheet's list of merged ranges (pinned xlsxwriter 3.3.1), which
    # is only read when the file is assembled at close.
    label_row = first_row + 1
    runs = _group_runs(columns)
    for first, last, group in runs:
        if group is None:
            sheet.write_string(first_row, first, _neutral_text(columns[first].label), cell_format)
        else:
            sheet.write_string(first_row, first, _neutral_text(group), cell_format)
            for index in range(first + 1, last + 1):
                sheet.write_blank(first_row, index, None, cell_format)
    for index, column in enumerate(columns):
        if column.group is None:
            sheet.write_blank(label_row, index, None, cell_format)
        else:
            sheet.write_string(label_row, index, _neutral_text(column.label), cell_format)
    for first, last, group in runs:
        if group is None:
            sheet.merge.append([first_row, first, label_row, first])
        elif last > first:
            sheet.merge.append([first_row, first, first_row, last])
    return label_row


def _write_data_row(
    sheet: Worksheet,
    row: int,
    values: Sequence[object],
    columns: Sequence[Column],
    formats: _Formats,
) -> None:
    write_string = sheet.write_string
    for index, value in enumerate(values):
        if value is None:
            sheet.write_blank(row, index, None, formats.values[index])
        elif isinstance(value, str):
            write_string(row, index, _neutral_text(value), formats.text)
        else:
            _write_typed(sheet, row, index, value, columns[index].kind, formats)


def _write_typed(
    sheet: Worksheet, row: int, col: int, value: object, kind: str, formats: _Formats
) -> None:
    if kind in ("date", "datetime") and isinstance(value, dt.date):
        if isinstance(value, dt.datetime):
            value = _local(value)
            if kind == "date":
                value = value.date()
        sheet.write_datetime(row, col, value, formats.values[col])
        return
    if kind == "number" and _is_number(value):
        number = float(value) if isinstance(value, Decimal) else value
        try:
            finite = math.isfinite(number)  # type: ignore[arg-type]
        except OverflowError:  # an int beyond the float range
            finite = False
        if finite:  # Excel has no NaN or infinity: those are written as text
            sheet.write_number(row, col, number, formats.values[col])
            return
    sheet.write_string(row, col, cell_text(value, kind), formats.text)


def write_csv(out: BinaryIO, layout: Layout, rows: Iterable[Sequence[object]]) -> int:
    """Write ``rows`` under ``layout`` as CSV to ``out``; return the data rows written.

    ``out`` is any object with ``write(bytes)``. The bytes are UTF-8 with a byte order
    mark (Excel on Chinese Windows reads BOM-less CSV as GBK), CRLF line ends, fields
    quoted only when needed (``csv.QUOTE_MINIMAL``). Lines: the title, the subtitle, one
    header line of labels (a grouped column as ``"group/label"``, e.g. ``"住址/楼栋"``),
    the data rows as :func:`cell_text` (``str`` neutralised, dates ``YYYY-MM-DD``,
    datetimes ``YYYY-MM-DD HH:MM``, ``None`` empty), the footer, the watermark; an empty
    title, subtitle, footer or watermark is left out.

    Streams: at most about 64K characters are held before they are written to ``out``.
    A row of the wrong length raises ``ValueError`` after the rows before it were written,
    as does text that cannot be encoded as UTF-8 (lone surrogates, ``UnicodeEncodeError``).
    """
    columns = _columns(layout)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)

    def flush() -> None:
        out.write(buffer.getvalue().encode("utf-8"))
        buffer.seek(0)
        buffer.truncate()

    out.write(codecs.BOM_UTF8)
    for line in (layout.title, layout.subtitle):
        if line:
            writer.writerow([_neutral_text(line)])
    writer.writerow(
        [
            _neutral_text(
                column.label if column.group is None else f"{column.group}/{column.label}"
            )
            for column in columns
        ]
    )
    kinds = [column.kind for column in columns]
    count = 0
    for values in rows:
        _check_row(values, count + 1, len(columns))
        writer.writerow([cell_text(value, kind) for value, kind in zip(values, kinds, strict=True)])
        count += 1
        if buffer.tell() >= _CSV_FLUSH_CHARS:
            flush()
    for line in (layout.footer, layout.watermark):
        if line:
            writer.writerow([_neutral_text(line)])
    flush()
    return count
