"""Reading the roster files the field really has into one neutral shape.

A grid worker uploads whatever Excel, WPS or a government system gave them: .xlsx, old
.xls, or .csv/.txt text in UTF-8, UTF-8 with BOM or GB18030 (GBK), often with a title row,
a two-row header with merged cells, data that starts at C4, and file names that do not
match the contents. This module reads such a file cell by cell and finds its header. It
interprets nothing about residents (no ID checks, no column mapping).

Entry points:

* :func:`detect_format` says what a file is by its bytes (``"xlsx"``, ``"xls"`` or
  ``"csv"``) and refuses anything else with a sentence that says what to do;
* :func:`read_sheet` reads one sheet into a :class:`Sheet`: every row, faithful cell values
  and types, the cells that hold formulas and the merged ranges;
* :func:`header_rows` finds the header row (or the two rows of a two-row header) below any
  title rows; :func:`header_names` gives one column name per column for them.

Every refusal is a :class:`SheetError` whose ``str()`` is a translated sentence for the
person who uploaded the file.
"""

from __future__ import annotations

import codecs
import csv
import gc
import io
import itertools
import posixpath
import re
import struct
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, NoReturn
from xml.parsers import expat

import python_calamine
from django.utils.translation import gettext as _
from xlrd.compdoc import CompDoc, CompDocError

from fangkong.lib.encoding import EncodingProblem, decode_bytes
from fangkong.lib.text import squash_spaces, to_halfwidth

__all__ = [
    "CODES",
    "FORMATS",
    "Sheet",
    "SheetError",
    "detect_format",
    "header_names",
    "header_rows",
    "read_sheet",
]

FORMATS = ("xlsx", "xls", "csv")
"""The formats :func:`detect_format` reports and :attr:`Sheet.format` holds."""

CODES = ("format", "empty", "encoding", "ambiguous", "too_big", "broken", "no_header", "no_sheet")
"""The values :attr:`SheetError.code` takes."""

DELIMITERS = (",", "\t", ";", "|")
"""The CSV delimiters :func:`read_sheet` recognises, in order of preference on a tie."""

_SNIFF_LINES = 50
_SNIFF_CHARS = 256 * 1024
_READING_CHARS = 200

# Zip bombs: a part that unpacks to more than this and more than this many times its
# packed size is refused before anything unpacks it. A genuine 1M-row sheet is ~400 MB
# unpacked but packs ~10:1.
_MAX_PART_BYTES = 200 * 1024 * 1024
_MAX_PART_RATIO = 50
# A stray value far to the right or below the roster makes calamine's grid that big
# (XFD1048576 alone is 17 billion cells): refuse rather than allocate it.
_MAX_CELLS = 60_000_000
_XML_CHUNK = 1024 * 1024

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

# BIFF record types (.xls), see [MS-XLS] 2.3.
_BIFF_FORMULA = 0x0006
_BIFF_EOF = 0x000A
_BIFF_FILEPASS = 0x002F
_BIFF_BOUNDSHEET = 0x0085
_BIFF_BOF = 0x0809
_BIFF8 = 0x0600

# A formula element in worksheet XML, with or without a namespace prefix ("<f>", "<x:f ...>");
# the DOCTYPE/ENTITY declarations that no spreadsheet application writes are caught in the
# same pass (entity expansion is how an XML "billion laughs" bomb works).
_XML_FORMULA_OR_DTD = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?f[\s/>]|<!DOCTYPE|<!ENTITY")
_XML_TAIL = 64
_CELL_REF = re.compile(r"\$?([A-Za-z]{1,3})\$?(\d+)")
# Worksheet element names as expat reports them with namespaces resolved: transitional and
# strict OOXML, and no namespace at all (sloppy writers).
_SML_NAMESPACES = (
    "http://schemas.openxmlformats.org/spreadsheetml/2006/main ",
    "http://purl.oclc.org/ooxml/spreadsheetml/main ",
    "",
)
_SML_NAMES = tuple(
    frozenset(namespace + local for namespace in _SML_NAMESPACES) for local in ("c", "f", "row")
)

# What calamine raises on a bad file (its own errors; values it cannot convert).
_CALAMINE_ERRORS = (python_calamine.CalamineError, ValueError, OverflowError, OSError)
# What reading a damaged zip member raises (bad CRC, bad deflate data, cut member).
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, EOFError)


class SheetError(ValueError):
    """A file that cannot be read as a roster sheet, or not without the user's help.

    ``code`` is one of :data:`CODES`:

    * ``"format"``: not a spreadsheet at all (PDF, image, Word document, web page, archive,
      .xlsb/.ods, ...);
    * ``"empty"``: no file content, or no sheet with any value (or the chosen sheet empty);
    * ``"encoding"``: a text file that is neither UTF-8 nor GB18030 (or not the forced
      encoding), cut inside a character, or saved as UTF-16 "Unicode text";
    * ``"ambiguous"``: a text file that reads as Chinese both in UTF-8 and GB18030;
      ``readings`` maps each encoding to the first 200 characters of that reading, so
      that the user can pick one (then call :func:`read_sheet` with ``encoding=``);
    * ``"too_big"``: more rows than ``max_rows``, or a used area too large to read;
    * ``"broken"``: a damaged, cut-off or password-protected workbook, a CSV with an
      unclosed quotation mark, or a workbook built to exhaust memory;
    * ``"no_header"``: :func:`header_rows` found no row with two column names;
    * ``"no_sheet"``: the ``sheet`` asked for does not exist.

    ``message`` (also ``str(error)``) is the translated sentence for the person who
    uploaded the file, with what to do about it.
    """

    def __init__(self, code: str, message: str, *, readings: dict[str, str] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.readings = readings

    def __str__(self) -> str:
        return self.message


@dataclass
class Sheet:
    """One sheet of a file, read as it is.

    ``rows`` holds every row of the sheet; ``rows[0]`` is the file's row 1 and column
    indexes are the sheet's (a block starting at C4 has ``rows[3][2]`` as its first cell:
    the rows and columns before it are there, empty). Cell values:

    * CSV: always ``str``, ``""`` for an empty cell, never converted (an ID stays text);
      rows are the lists the ``csv`` module yields, so they may differ in length and a
      blank line is ``[]``.
    * .xlsx/.xls: ``None`` for an empty cell; ``str``; ``float`` for numbers (.xlsx
      stores every number as a float; .xls integer cells may come back as ``int``): a
      float stays a float, so an 18-digit ID that Excel stored as a number is visible
      as such (``1.10105199001011e17``, its last digits already lost); ``bool``;
      ``datetime.date`` or ``datetime.datetime`` for date-formatted cells,
      ``datetime.time`` for time-only and ``datetime.timedelta`` for duration formats.
      Error values (``#DIV/0!``, ``#N/A``) read as ``None``; a formula reads as its
      cached result (``None`` when the file has none). Rows are rectangular, as wide as
      the used area; a formula cell without a cached result outside that area widens its
      row (or adds blank rows ``[]`` down to it), so that every cell of ``formulas`` is
      inside ``rows``.

    ``formulas`` holds the 0-based ``(row, column)`` of every cell whose value comes from
    a formula (always empty for CSV, a format without formulas). ``merged`` holds the
    merged ranges as 0-based inclusive ``(first_row, first_col, last_row, last_col)``.
    ``sheet_names`` lists every sheet of the workbook in tab order (hidden and chart
    sheets included), the numbering ``read_sheet(sheet=<int>)`` uses; ``()`` for CSV.
    """

    format: str  # "xlsx" | "xls" | "csv"
    encoding: str | None  # csv only: "utf-8" | "utf-8-sig" | "gb18030"
    sheet_name: str  # "" for csv
    rows: list[list[object]]
    formulas: frozenset[tuple[int, int]] = frozenset()
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)
    sheet_names: tuple[str, ...] = ()


# --- messages ----------------------------------------------------------------------------


def _not_a_spreadsheet(kind: str) -> SheetError:
    return SheetError(
        "format",
        _(
            "This file is %(kind)s, not a spreadsheet. Save the roster as .xlsx, .xls or "
            ".csv and upload that file."
        )
        % {"kind": kind},
    )


def _web_page() -> SheetError:
    return SheetError(
        "format",
        _(
            "This file is a web page (HTML) with a spreadsheet name, as some systems export "
            "it, not a real spreadsheet. Open it in Excel or WPS and save it as .xlsx, .xls "
            "or .csv."
        ),
    )


def _archive() -> SheetError:
    return SheetError(
        "format",
        _(
            "This file is a compressed archive, not a spreadsheet. Unpack it and upload the "
            ".xlsx, .xls or .csv file inside."
        ),
    )


def _damaged() -> SheetError:
    return SheetError(
        "broken",
        _(
            "The file is damaged or incomplete (it may have been cut off while copying or "
            "uploading). Open it in Excel or WPS to check it, save it again and upload it "
            "again."
        ),
    )


def _password() -> SheetError:
    return SheetError(
        "broken",
        _(
            "The file is protected with a password, so it cannot be read. Open it in Excel "
            "or WPS, remove the password, save it and upload it again."
        ),
    )


def _suspicious() -> SheetError:
    return SheetError(
        "broken",
        _(
            "The file is not a normal spreadsheet: it contains parts that Excel and WPS "
            "never write. Open it in Excel or WPS, save it again and upload that file."
        ),
    )


def _empty_file() -> SheetError:
    return SheetError("empty", _("The file is empty. Check that you chose the right file."))


def _cell_ref(row: int, col: int) -> str:
    """The A1 name of a 0-based cell (``(3, 2)`` -> ``"C4"``)."""
    letters = ""
    col += 1
    while col:
        col, rest = divmod(col - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return f"{letters}{row + 1}"


# --- detecting the format -----------------------------------------------------------------


def detect_format(data: bytes, filename: str) -> str:
    """Say what ``data`` is: ``"xlsx"``, ``"xls"`` or ``"csv"``, by its bytes, not its name.

    * a ZIP with ``xl/workbook.xml`` is .xlsx (also .xlsm); another ZIP is refused
      (.docx, .pptx, .xlsb, .ods or a plain archive), a ZIP that cannot be opened (cut
      off) is ``SheetError("broken")``;
    * an OLE compound file with a ``Workbook``/``Book`` stream is .xls, whatever the name
      says (people rename .xls files to .xlsx); an encrypted .xlsx (OLE with an
      ``EncryptedPackage``) is ``SheetError("broken")``; .doc, .ppt, .wps and other OLE
      files are refused;
    * anything else that looks like text is ``"csv"`` (also .txt and text named .xls);
      PDF, images, archives, RTF, web pages, XML and other binaries are refused.

    Refusals are ``SheetError("format")`` asking to save the roster as .xlsx, .xls or
    .csv. ``filename`` is not used to decide; it is accepted so that callers pass it and
    messages may use it. Empty ``data`` is ``"csv"`` (:func:`read_sheet` then says it is
    empty). Cost: opens the ZIP directory or the OLE directory, nothing more.
    """
    del filename  # the contents decide: names lie (renamed files, systems' exports)
    if data.startswith(_ZIP_MAGIC):
        _check_zip_kind(data)
        return "xlsx"
    if data.startswith(_OLE_MAGIC):
        _check_ole_kind(data)
        return "xls"
    _check_text_kind(data)
    return "csv"


def _open_zip(data: bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise _damaged() from exc


def _check_zip_kind(data: bytes) -> None:
    with _open_zip(data) as archive:
        names = {name.lower() for name in archive.namelist()}
        if "xl/workbook.xml" in names:
            return
        if "xl/workbook.bin" in names:
            raise _not_a_spreadsheet(_("an Excel binary workbook (.xlsb)"))
        if "word/document.xml" in names:
            raise _not_a_spreadsheet(_("a Word document"))
        if "ppt/presentation.xml" in names:
            raise _not_a_spreadsheet(_("a PowerPoint presentation"))
        if "mimetype" in names:
            raise _not_a_spreadsheet(_("an OpenDocument file (.ods/.odt)"))
    raise _archive()


def _ole(data: bytes) -> CompDoc:
    try:
        # CompDoc prints its warnings about odd files; they are no business of the log.
        return CompDoc(data, logfile=io.StringIO())
    except (CompDocError, AssertionError, IndexError, struct.error, ValueError) as exc:
        raise _damaged() from exc


def _check_ole_kind(data: bytes) -> None:
    streams = {entry.name.lower() for entry in _ole(data).dirlist}
    if streams & {"workbook", "book"}:
        return
    if "encryptedpackage" in streams:  # an .xlsx with an opening password is OLE
        raise _password()
    if "worddocument" in streams:
        raise _not_a_spreadsheet(_("a Word document"))
    if "powerpoint document" in streams:
        raise _not_a_spreadsheet(_("a PowerPoint presentation"))
    raise _not_a_spreadsheet(_("an Office or WPS file of another kind"))


_BINARY_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "pdf"),
    (b"\x89PNG", "image"),
    (b"\xff\xd8\xff", "image"),
    (b"GIF87a", "image"),
    (b"GIF89a", "image"),
    (b"II*\x00", "image"),
    (b"MM\x00*", "image"),
    (b"Rar!", "archive"),
    (b"7z\xbc\xaf\x27\x1c", "archive"),
    (b"\x1f\x8b", "archive"),
    (b"{\\rtf", "rtf"),
)


def _check_text_kind(data: bytes) -> None:
    if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return  # text, but UTF-16: read_sheet says so with its own message
    for magic, kind in _BINARY_MAGIC:
        if data.startswith(magic):
            if kind == "archive":
                raise _archive()
            raise _not_a_spreadsheet(
                {"pdf": _("a PDF document"), "image": _("an image"), "rtf": _("an RTF document")}[
                    kind
                ]
            )
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        raise _not_a_spreadsheet(_("an image"))
    head = data[:4096].removeprefix(codecs.BOM_UTF8).lstrip().lower()
    if head.startswith(b"<"):
        # Systems export HTML tables and Excel 2003 XML under an .xls name; no CSV starts
        # with "<".
        if b"urn:schemas-microsoft-com:office:spreadsheet" in head:
            raise _not_a_spreadsheet(_("an Excel 2003 XML spreadsheet"))
        if b"<html" in head or b"<table" in head or b"<!doctype html" in head:
            raise _web_page()
        raise _not_a_spreadsheet(_("an XML or HTML file"))
    if head.startswith(b"mime-version:"):
        raise _web_page()  # .mht, a saved web page
    if b"\x00" in data[:8192]:  # no UTF-8 or GB18030 text contains NUL
        raise _not_a_spreadsheet(_("a file of an unknown kind"))


# --- reading -------------------------------------------------------------------------------


@contextmanager
def _gc_paused() -> Iterator[None]:
    # Every row is a new list, which the cyclic garbage collector tracks: building a million
    # of them triggers hundreds of collections that find nothing and triple the reading time.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def read_sheet(
    data: bytes,
    *,
    filename: str,
    encoding: str | None = None,
    sheet: int | str | None = None,
    max_rows: int = 2_000_000,
) -> Sheet:
    """Read one sheet of a roster file (format by :func:`detect_format`) into a :class:`Sheet`.

    .xlsx/.xls: ``sheet`` is a 0-based position among all the workbook's sheets (as in
    :attr:`Sheet.sheet_names`) or a sheet name; ``None`` takes the first visible worksheet
    that has any value (hidden sheets often hold dropdown lists, chart sheets no cells).
    Values, formulas and merged ranges are as :class:`Sheet` describes.

    CSV/text: ``encoding`` (one of :data:`fangkong.lib.encoding.ENCODINGS`, e.g. the
    user's choice after ``"ambiguous"``) is passed to
    :func:`~fangkong.lib.encoding.decode_bytes`; ``sheet`` is ignored. The delimiter is
    the one of :data:`DELIMITERS` that splits the first 50 lines into the most rows of
    the same width (more than one column); a single column reads with ",". Quoted cells
    may hold delimiters, quotes and line breaks.

    Raises :class:`SheetError`: ``"format"``/``"broken"`` from :func:`detect_format`;
    ``"encoding"``/``"ambiguous"`` for text (same message and readings as the
    :class:`~fangkong.lib.encoding.EncodingProblem`); ``"broken"`` for an unclosed
    quotation mark (with the row and line), a damaged or password-protected workbook or
    a ZIP/XML bomb; ``"too_big"`` beyond ``max_rows`` rows; ``"empty"`` when there is no
    value at all; ``"no_sheet"`` for a ``sheet`` that does not exist.

    Speed (CPU time, one core): a 1,000,000-row, 10-column CSV reads in about 1.7 s, a
    100,000-row, 10-column .xlsx in about 1 s, plus about 1.2 s when it has formulas (the
    worksheet XML is then parsed once more to find them). The garbage collector is paused
    while rows are built. Memory: the rows themselves (about 1.5 GB for that CSV).
    """
    kind = detect_format(data, filename)
    with _gc_paused():
        if kind == "csv":
            return _read_csv(data, encoding=encoding, max_rows=max_rows)
        return _read_workbook(data, kind, sheet=sheet, max_rows=max_rows)


# --- CSV ----------------------------------------------------------------------------------


def _from_encoding_problem(problem: EncodingProblem) -> SheetError:
    if problem.code == "ambiguous":
        readings = {reading.encoding: reading.text[:_READING_CHARS] for reading in problem.readings}
        return SheetError("ambiguous", problem.message, readings=readings)
    return SheetError("encoding", problem.message)


def _read_csv(data: bytes, *, encoding: str | None, max_rows: int) -> Sheet:
    if not data:
        raise _empty_file()
    if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        raise SheetError(
            "encoding",
            _(
                "The file is saved as “Unicode text” (UTF-16), which cannot be read. Save it "
                "again as CSV UTF-8 (Excel: Save As → CSV UTF-8)."
            ),
        )
    try:
        decoded = decode_bytes(data, encoding=encoding)
    except EncodingProblem as problem:
        raise _from_encoding_problem(problem) from problem
    text = decoded.text
    delimiter = _sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[list[object]] = []
    try:
        # extend() keeps the rows read before an error: their count locates it.
        rows.extend(itertools.islice(reader, max_rows + 1))
    except csv.Error as exc:
        raise _bad_quotes(text, delimiter, len(rows)) from exc
    if len(rows) > max_rows:
        raise SheetError(
            "too_big",
            _(
                "The file has more than %(max)d rows, more than can be imported at once. "
                "Split it into smaller files."
            )
            % {"max": max_rows},
        )
    if not any(any(row) for row in rows):
        raise _empty_file()
    return Sheet("csv", decoded.encoding, "", rows)


def _sniff_delimiter(text: str) -> str:
    """The delimiter that splits the start of ``text`` most consistently (see read_sheet).

    csv.Sniffer is not used: on Chinese text it picks letters or full-width marks as the
    delimiter. Parsing the sample with each candidate (rather than counting characters per
    line) lets quoted commas in addresses and quoted line breaks count right."""
    end = 0
    for _line in range(_SNIFF_LINES):
        end = text.find("\n", end, _SNIFF_CHARS) + 1
        if end == 0:
            end = min(len(text), _SNIFF_CHARS)
            break
    sample = text[:end]
    best, best_score = DELIMITERS[0], (0, 0)
    for delimiter in DELIMITERS:
        if delimiter not in sample:
            continue
        try:
            widths = Counter(
                len(row)
                for row in csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter)
                if len(row) > 1
            )
        except csv.Error:
            continue
        if not widths:
            continue
        width, count = max(widths.items(), key=lambda item: (item[1], item[0]))
        if (count, width) > best_score:
            best, best_score = delimiter, (count, width)
    return best


def _bad_quotes(text: str, delimiter: str, good_rows: int) -> SheetError:
    # Reading the rows that parsed again, to find the line where the bad one starts: the row
    # number is what Excel shows, the line what a text editor shows; both help.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    for _row in itertools.islice(reader, good_rows):
        pass
    return SheetError(
        "broken",
        _(
            'Row %(row)d of the file (from line %(line)d) has a quotation mark (") that is '
            "not closed, or text right after a closing quotation mark. Correct that cell, or "
            "save the file again from Excel or WPS."
        )
        % {"row": good_rows + 1, "line": reader.line_num + 1},
    )


# --- workbooks ------------------------------------------------------------------------------


def _calamine_failed(exc: BaseException) -> SheetError | None:
    """The SheetError for an exception calamine raised on a bad file, or None for others."""
    if isinstance(exc, python_calamine.PasswordError):
        return _password()
    # A Rust panic on a malformed file surfaces as pyo3's PanicException, a BaseException.
    if isinstance(exc, _CALAMINE_ERRORS) or type(exc).__name__ == "PanicException":
        return _damaged()
    return None


def _read_workbook(data: bytes, kind: str, *, sheet: int | str | None, max_rows: int) -> Sheet:
    if kind == "xlsx":
        with _open_zip(data) as archive:
            _check_zip_sizes(archive)
            _check_xlsx_extent(archive)
            return _read_book(data, kind, sheet, max_rows, archive=archive)
    return _read_book(data, kind, sheet, max_rows, biff=_Biff.open(data))


def _read_book(
    data: bytes,
    kind: str,
    sheet: int | str | None,
    max_rows: int,
    *,
    archive: zipfile.ZipFile | None = None,
    biff: _Biff | None = None,
) -> Sheet:
    # The ZIP and BIFF checks come first: calamine would only say "cannot detect file
    # format" for an encrypted .xls, and would unpack a bomb.
    try:
        book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
        names = list(book.sheet_names)
        index, rows, cal_sheet = _choose_sheet(book, sheet, max_rows)
        ranges = cal_sheet.merged_cell_ranges or []
    except SheetError:
        raise
    except BaseException as exc:
        error = _calamine_failed(exc)
        if error is None:
            raise
        raise error from exc
    name = names[index]
    if archive is not None:
        formulas = _xlsx_formulas(archive, name)
    else:
        assert biff is not None
        formulas = biff.formulas(index, name)
    _cover_formulas(rows, formulas, name, max_rows)
    merged = [(r1, c1, r2, c2) for (r1, c1), (r2, c2) in ranges]
    return Sheet(kind, None, name, rows, formulas, merged, tuple(names))


def _cover_formulas(
    rows: list[list[object]], formulas: frozenset[tuple[int, int]], name: str, max_rows: int
) -> None:
    """Extend ``rows`` with empty cells so that every formula cell is inside them.

    calamine's used area leaves out a formula without a cached result (files written by
    openpyxl or other libraries, or saved for recalculation on load); the cell is there all
    the same, and callers may index ``rows[r][c]`` for every ``(r, c)`` in ``formulas``."""
    for row, col in formulas:
        if row >= len(rows):
            if row >= max_rows:
                raise _too_many_rows(name, row + 1, (row, col), max_rows)
            rows.extend([] for _ in range(row + 1 - len(rows)))
        cells = rows[row]
        if col >= len(cells):
            cells.extend([None] * (col + 1 - len(cells)))


def _choose_sheet(
    book: python_calamine.CalamineWorkbook, sheet: int | str | None, max_rows: int
) -> tuple[int, list[list[object]], python_calamine.CalamineSheet]:
    names = book.sheet_names
    if sheet is None:
        for index, meta in enumerate(book.sheets_metadata):
            if meta.typ != python_calamine.SheetTypeEnum.WorkSheet:
                continue
            if meta.visible != python_calamine.SheetVisibleEnum.Visible:
                continue
            cal_sheet = book.get_sheet_by_index(index)
            if cal_sheet.start is None:
                continue
            rows = _sheet_rows(cal_sheet, max_rows)
            if _has_value(rows):
                return index, rows, cal_sheet
        raise SheetError(
            "empty",
            _(
                "The file has no data: all its sheets are empty. Check that you chose the "
                "right file."
            ),
        )
    if isinstance(sheet, str):
        if sheet not in names:
            raise SheetError(
                "no_sheet",
                _("The file has no sheet named “%(name)s”. Its sheets are: %(names)s.")
                % {"name": sheet, "names": "、".join(names)},
            )
        index = names.index(sheet)
    else:
        index = sheet
        if not 0 <= index < len(names):
            raise SheetError(
                "no_sheet",
                _("The file has no sheet number %(number)d; it has %(count)d.")
                % {"number": index + 1, "count": len(names)},
            )
    cal_sheet = book.get_sheet_by_index(index)
    rows = _sheet_rows(cal_sheet, max_rows)
    if not _has_value(rows):
        raise SheetError("empty", _("The sheet “%(name)s” is empty.") % {"name": names[index]})
    return index, rows, cal_sheet


def _has_value(rows: list[list[object]]) -> bool:
    return any(value is not None for row in rows for value in row)


def _too_many_rows(name: str, height: int, last: tuple[int, int], max_rows: int) -> SheetError:
    return SheetError(
        "too_big",
        _(
            "The sheet “%(name)s” uses %(rows)d rows (down to cell %(cell)s), more than "
            "the %(max)d that can be imported at once. Split it into smaller files, or "
            "delete stray content below the roster."
        )
        % {"name": name, "rows": height, "cell": _cell_ref(*last), "max": max_rows},
    )


def _sheet_rows(cal_sheet: python_calamine.CalamineSheet, max_rows: int) -> list[list[object]]:
    end = cal_sheet.end
    if end is None:
        return []
    height, width = end[0] + 1, end[1] + 1
    if height > max_rows:
        raise _too_many_rows(cal_sheet.name, height, end, max_rows)
    if height * width > _MAX_CELLS:
        raise SheetError(
            "too_big",
            _(
                "The sheet “%(name)s” uses an area up to cell %(cell)s, too large to read. "
                "Delete stray content far to the right of or below the roster, or copy the "
                "roster to a new sheet."
            )
            % {"name": cal_sheet.name, "cell": _cell_ref(*end)},
        )
    # skip_empty_area=False: calamine then pads the rows and columns before the first
    # value, so indexes are the sheet's own (with True, a block at C4 would come back at
    # [0][0]). calamine gives "" for an empty cell: None says "empty" without a doubt.
    grid = cal_sheet.to_python(skip_empty_area=False)
    return [[None if value == "" else value for value in row] for row in grid]


# --- .xlsx parts: zip bombs and formulas -----------------------------------------------------


def _check_zip_sizes(archive: zipfile.ZipFile) -> None:
    for info in archive.infolist():
        if info.file_size > _MAX_PART_BYTES and info.file_size > _MAX_PART_RATIO * max(
            info.compress_size, 1
        ):
            raise _suspicious()


_CELL_REF_BYTES = re.compile(rb'<(?:\w+:)?c [^>]*?\br="([A-Z]{1,3})([0-9]{1,7})"')


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def _check_xlsx_extent(archive: zipfile.ZipFile) -> None:
    """Refuse a worksheet whose farthest cell makes the used area too large, before
    calamine builds it: a few bytes (cells A1 and XFD60000) would otherwise ask for tens
    of gigabytes and kill the process. Streams every worksheet part once."""
    for info in archive.infolist():
        if not (info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml")):
            continue
        rows = cols = 0
        tail = b""
        try:
            with archive.open(info) as stream:
                while chunk := stream.read(1 << 20):
                    block = tail + chunk
                    for letters, digits in _CELL_REF_BYTES.findall(block):
                        cols = max(cols, _column_number(letters))
                        rows = max(rows, int(digits))
                    tail = block[-200:]  # a reference cut by the chunk is seen whole next time
        except _ZIP_ERRORS as exc:
            raise _damaged() from exc
        if rows * cols > _MAX_CELLS:
            raise SheetError(
                "too_big",
                _("A sheet of this file uses an area up to cell %(cell)s, too large to "
                  "read. Delete stray content far to the right of or below the roster, or "
                  "copy the roster to a new sheet.")
                % {"cell": _cell_ref(rows - 1, cols - 1)})


def _refuse_dtd(*_args: object) -> NoReturn:
    raise _suspicious()


def _xml_parser(*, namespaces: bool = False) -> expat.XMLParserType:
    """An expat parser that refuses any DOCTYPE (and with it every entity declaration).

    With ``namespaces``, element names are "<namespace URI> <local name>"."""
    parser = expat.ParserCreate(namespace_separator=" " if namespaces else None)
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    parser.buffer_text = True
    return parser


def _local(name: str) -> str:
    return name[name.find(":") + 1 :]


def _parse_part(archive: zipfile.ZipFile, name: str, start: Callable[[str, dict], None],
                *, namespaces: bool = False) -> None:
    parser = _xml_parser(namespaces=namespaces)
    parser.StartElementHandler = start
    try:
        with archive.open(name) as stream:
            parser.ParseFile(stream)
    except (expat.ExpatError, *_ZIP_ERRORS) as exc:
        raise _damaged() from exc


def _member(archive: zipfile.ZipFile, name: str) -> str | None:
    wanted = name.lower()
    for member in archive.namelist():
        if member.lower() == wanted:
            return member
    return None


def _xlsx_sheet_part(archive: zipfile.ZipFile, sheet_name: str) -> str | None:
    """The zip member holding the worksheet called ``sheet_name``: workbook.xml gives its
    relationship id, workbook.xml.rels the part."""
    workbook = _member(archive, "xl/workbook.xml")
    rels = _member(archive, "xl/_rels/workbook.xml.rels")
    if workbook is None or rels is None:
        return None
    rel_id: list[str] = []

    def on_sheet(name: str, attrs: dict) -> None:
        if _local(name) == "sheet" and attrs.get("name") == sheet_name:
            # r:id, whatever the prefix of the relationships namespace is called
            rel_id.extend(
                value for key, value in attrs.items() if _local(key) == "id" and ":" in key
            )

    _parse_part(archive, workbook, on_sheet)
    if not rel_id:
        return None
    target: list[str] = []

    def on_relationship(name: str, attrs: dict) -> None:
        if _local(name) == "Relationship" and attrs.get("Id") == rel_id[0]:
            target.append(attrs.get("Target", ""))

    _parse_part(archive, rels, on_relationship)
    if not target or not target[0]:
        return None
    path = target[0]
    path = path[1:] if path.startswith("/") else posixpath.join("xl", path)
    return _member(archive, posixpath.normpath(path))


def _has_formula_tag(stream: IO[bytes]) -> bool:
    """Whether the worksheet XML in ``stream`` has any formula element; raises on a DTD.

    A plain byte search at unpacking speed: most rosters have no formula, and a full XML
    parse of a 100k-row sheet costs about a second."""
    tail = b""
    while chunk := stream.read(_XML_CHUNK):
        window = tail + chunk
        for match in _XML_FORMULA_OR_DTD.finditer(window):
            if match.group().startswith(b"<!"):
                raise _suspicious()
            return True
        tail = window[-_XML_TAIL:]
    return False


def _xlsx_formulas(archive: zipfile.ZipFile, sheet_name: str) -> frozenset[tuple[int, int]]:
    """The (row, col) of every cell with an ``<f>`` element in the named worksheet's XML.

    Streamed: expat's start-element events only, no tree is built, so a million-row sheet
    costs time, not memory. With namespaces resolved, a spreadsheetml ``f`` only occurs
    inside a cell (data validations in extensions use another namespace's ``f``), so the
    last ``<c>`` seen is its cell and no end-element events are needed: half the Python
    calls, which is most of the cost."""
    part = _xlsx_sheet_part(archive, sheet_name)
    if part is None:
        return frozenset()
    try:
        with archive.open(part) as stream:
            if not _has_formula_tag(stream):
                return frozenset()
    except _ZIP_ERRORS as exc:
        raise _damaged() from exc
    found: list[tuple[int, str | None, int]] = []
    # Cells and rows may omit their "r" reference (it is optional in the format): then they
    # follow the previous one. Per cell only the reference is kept; it is parsed for the
    # cells that have a formula.
    row, last_ref, since = -1, None, -1
    cell_names, formula_names, row_names = _SML_NAMES

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal row, last_ref, since
        if name in cell_names:
            ref = attrs.get("r")
            if ref is None:
                since += 1
            else:
                last_ref, since = ref, 0
        elif name in formula_names:
            found.append((row, last_ref, since))
        elif name in row_names:
            ref = attrs.get("r")
            row = int(ref) - 1 if ref and ref.isdigit() else row + 1
            last_ref, since = None, -1

    _parse_part(archive, part, start, namespaces=True)
    cells = set()
    for row_index, ref, offset in found:
        match = _CELL_REF.fullmatch(ref) if ref else None
        if match is None:
            cells.add((row_index, offset))
        else:
            cells.add((int(match[2]) - 1, _column_index(match[1]) + offset))
    return frozenset(cells)


def _column_index(letters: str) -> int:
    index = 0
    for letter in letters.upper():
        index = index * 26 + ord(letter) - ord("A") + 1
    return index - 1


# --- .xls: BIFF records -------------------------------------------------------------------


@dataclass
class _Biff:
    """The workbook stream of an .xls and its sheets' positions ([MS-XLS] 2.1.4, 2.4.28).

    Records are a little-endian (type: u16, length: u16) header and a body. The globals
    substream lists one BOUNDSHEET per sheet, whose body starts with the stream offset of
    that sheet's BOF; a sheet's cells are the records from there to its EOF (embedded
    chart substreams nest their own BOF..EOF). BIFF5 (Excel 95) has the same layout, in a
    "Book" stream; BIFF2-4 files are not OLE documents and are refused before this."""

    stream: bytes
    sheets: list[tuple[int, str | None]]  # (BOF offset, name; None when not BIFF8)

    @classmethod
    def open(cls, data: bytes) -> _Biff:
        doc = _ole(data)
        stream = None
        try:
            for name in ("Workbook", "Book"):
                stream = doc.get_named_stream(name)
                if stream is not None:
                    break
        except (CompDocError, AssertionError, IndexError, struct.error, ValueError) as exc:
            raise _damaged() from exc
        if stream is None:
            raise _damaged()
        return cls(stream, cls._globals(stream))

    @staticmethod
    def _globals(stream: bytes) -> list[tuple[int, str | None]]:
        sheets: list[tuple[int, str | None]] = []
        version = 0
        pos, size = 0, len(stream)
        while pos + 4 <= size:
            kind, length = struct.unpack_from("<HH", stream, pos)
            body = stream[pos + 4 : pos + 4 + length]
            if kind == _BIFF_BOF and pos == 0 and len(body) >= 2:
                version = struct.unpack_from("<H", body)[0]
            elif kind == _BIFF_FILEPASS:
                # Also workbooks encrypted with Excel's built-in default password, which
                # Excel opens without asking: calamine reads none of them.
                raise _password()
            elif kind == _BIFF_BOUNDSHEET and len(body) >= 8:
                offset = struct.unpack_from("<I", body)[0]
                sheets.append((offset, _boundsheet_name(body) if version == _BIFF8 else None))
            elif kind == _BIFF_EOF:
                break
            pos += 4 + length
        return sheets

    def formulas(self, index: int, name: str) -> frozenset[tuple[int, int]]:
        """(row, col) of every FORMULA record in the sheet at ``index`` (calamine's
        numbering, the BOUNDSHEET order) called ``name``."""
        by_name = [offset for offset, sheet_name in self.sheets if sheet_name == name]
        if len(by_name) == 1:
            pos = by_name[0]
        elif index < len(self.sheets):
            pos = self.sheets[index][0]
        else:
            return frozenset()
        stream, size = self.stream, len(self.stream)
        unpack = struct.unpack_from
        cells: set[tuple[int, int]] = set()
        depth = 0
        while pos + 4 <= size:
            kind, length = unpack("<HH", stream, pos)
            if kind == _BIFF_FORMULA:
                if depth == 1 and length >= 4:
                    cells.add(unpack("<HH", stream, pos + 4))
            elif kind == _BIFF_BOF:
                depth += 1
            elif kind == _BIFF_EOF:
                depth -= 1
                if depth <= 0:
                    break
            pos += 4 + length
        return frozenset(cells)


def _boundsheet_name(body: bytes) -> str | None:
    # BIFF8 ShortXLUnicodeString after offset (4), state (1), type (1): count (1 byte),
    # flags (bit 0: UTF-16LE, else one byte per character), characters.
    count, flags = body[6], body[7]
    try:
        if flags & 1:
            return body[8 : 8 + 2 * count].decode("utf-16-le")
        return body[8 : 8 + count].decode("latin-1")
    except UnicodeDecodeError:
        return None


# --- the header -----------------------------------------------------------------------------


def _text(value: object) -> str:
    """A cell as header text: stripped, whitespace and line breaks removed inside,
    full-width letters and digits made half-width; ``""`` for an empty cell."""
    if value is None:
        return ""
    if isinstance(value, str):
        text = value
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    else:
        text = str(value)
    return to_halfwidth(squash_spaces(text))


def _row_texts(sheet: Sheet, index: int) -> list[str]:
    if not 0 <= index < len(sheet.rows):
        return []
    return [_text(value) for value in sheet.rows[index]]


def _header_columns(texts: list[str], is_header_cell: Callable[[str], bool]) -> set[int]:
    return {col for col, text in enumerate(texts) if text and is_header_cell(text)}


def header_rows(
    sheet: Sheet, *, is_header_cell: Callable[[str], bool], scan: int = 30
) -> tuple[int, int]:
    """Find the header: ``(first_header_row, last_header_row)``, 0-based inclusive.

    ``is_header_cell`` is called with the text of each non-empty cell as
    :func:`header_names` normalises it (no whitespace, half-width), and says whether it
    reads like a column name (姓名, 身份证号, ...).

    The header row is the row among the first ``scan`` with the most header cells (the
    earlier row on a tie); title rows above it ("XX社区居民信息登记表" in one merged cell,
    "填报单位：…  填报日期：…") have fewer and are skipped. It needs at least 2 header cells,
    else ``SheetError("no_header")``.

    A two-row header is two consecutive rows, ``top`` and ``bottom``, where ``top`` has
    at least 2 header cells and ``bottom`` at least 1, and either a merged range that
    lies in ``top`` alone spans several columns over a header cell of ``bottom``
    (住址 over 楼栋/单元), or ``top`` is empty above a header cell of ``bottom`` (the
    same layout saved as CSV). The header row found is tried as ``bottom`` first (when
    the grouped columns outnumber the others, the lower row has more header cells), then
    as ``top``. Returns ``(row, row)`` for a one-row header.
    """
    texts = [_row_texts(sheet, index) for index in range(min(scan, len(sheet.rows)))]
    found = [_header_columns(row, is_header_cell) for row in texts]
    best = max(range(len(found)), key=lambda index: (len(found[index]), -index), default=None)
    if best is None or len(found[best]) < 2:
        raise SheetError(
            "no_header",
            _(
                "No header row found in the first %(scan)d rows: put the column names, such "
                "as 姓名 and 身份证号, in one row above the data."
            )
            % {"scan": scan},
        )
    if best > 0 and _two_rows(sheet, best - 1, texts[best - 1], found[best - 1], found[best]):
        return best - 1, best
    below_texts = texts[best + 1] if best + 1 < len(texts) else _row_texts(sheet, best + 1)
    below = _header_columns(below_texts, is_header_cell)
    if _two_rows(sheet, best, texts[best], found[best], below):
        return best, best + 1
    return best, best


def _two_rows(
    sheet: Sheet, top: int, top_texts: list[str], top_cells: set[int], bottom_cells: set[int]
) -> bool:
    if len(top_cells) < 2 or not bottom_cells:
        return False
    for first_row, first_col, last_row, last_col in sheet.merged:
        if first_row == last_row == top and last_col > first_col:
            if any(first_col <= col <= last_col for col in bottom_cells):
                return True
    return any(col >= len(top_texts) or not top_texts[col] for col in bottom_cells)


def header_names(sheet: Sheet, first: int, last: int) -> list[str]:
    """One name per column for the header rows ``first..last`` (from :func:`header_rows`).

    Cell texts are stripped, whitespace and line breaks inside removed ("身份证\\n号码" ->
    "身份证号码"), full-width letters and digits made half-width. With two (or more) rows,
    the parts of a column are joined with "/" from top to bottom, empty parts left out:
    "住址/楼栋", "住址/单元" under a 住址 merged across them, "姓名" when 姓名 spans both
    rows. An upper cell is carried across the columns to its right:

    * over its merged range (a range that starts in that row and spans columns);
    * without a merge, over the empty upper cells that follow it while each of those
      columns, and its own column, has a name below (the layout of a merged group
      header saved as CSV); a column with nothing below ends the group.

    The list is as long as the longest header row; a column without a name is "".
    """
    if not 0 <= first <= last < len(sheet.rows):
        raise ValueError(f"header rows {first}..{last} outside the sheet's {len(sheet.rows)} rows")
    levels = [_row_texts(sheet, index) for index in range(first, last + 1)]
    width = max(len(level) for level in levels)
    levels = [level + [""] * (width - len(level)) for level in levels]
    for depth in range(len(levels) - 1):
        row, upper = first + depth, levels[depth]
        for first_row, first_col, _last_row, last_col in sheet.merged:
            if first_row == row and last_col > first_col and first_col < width:
                for col in range(first_col + 1, min(last_col + 1, width)):
                    if not upper[col]:
                        upper[col] = upper[first_col]
        below = [any(level[col] for level in levels[depth + 1 :]) for col in range(width)]
        group = ""
        for col in range(width):
            if upper[col]:
                group = upper[col] if below[col] else ""
            elif below[col] and group:
                upper[col] = group
            else:
                group = ""
    names = []
    for col in range(width):
        parts: list[str] = []
        for level in levels:
            if level[col] and (not parts or parts[-1] != level[col]):
                parts.append(level[col])
        names.append("/".join(parts))
    return names
