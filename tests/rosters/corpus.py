"""Builders of the roster files the field really sends: made by the tests themselves."""

from __future__ import annotations

import io
from datetime import date

import xlsxwriter
import xlwt

from fangkong.lib.idcard import make_id_number


def id_number(seq: int, born: date = date(1958, 4, 12)) -> str:
    return make_id_number("420102", born, seq)


def xlsx(rows: list[list[object]], *, title: str | None = None,
         merged_header: tuple[list, list] | None = None,
         formulas: dict[tuple[int, int], str] | None = None,
         numbers_as_numbers: bool = False) -> bytes:
    """An .xlsx as Excel makes it: optional merged title row, optional two-row header
    with merged group cells (top row, bottom row), data rows, formula cells."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True,
                                     "strings_to_numbers": numbers_as_numbers})
    sheet = book.add_worksheet("居民")
    r = 0
    width = max(len(row) for row in rows) if rows else 1
    if title:
        sheet.merge_range(0, 0, 0, width - 1, title)
        r = 1
    if merged_header:
        top, bottom = merged_header
        c = 0
        while c < len(top):
            span = 1
            while c + span < len(top) and top[c + span] is None:
                span += 1
            if bottom[c] is None:  # spans both header rows
                sheet.merge_range(r, c, r + 1, c, top[c])
            elif span > 1:
                sheet.merge_range(r, c, r, c + span - 1, top[c])
            else:
                sheet.write(r, c, top[c])
            c += span
        for c, label in enumerate(bottom):
            if label is not None:
                sheet.write(r + 1, c, label)
        r += 2
    for row in rows:
        for c, value in enumerate(row):
            if formulas and (r, c) in formulas:
                sheet.write_formula(r, c, formulas[(r, c)], None, value)
            elif isinstance(value, date):
                sheet.write_datetime(r, c, value, book.add_format({"num_format": "yyyy-mm-dd"}))
            elif value is not None:
                sheet.write(r, c, value)
        r += 1
    book.close()
    return out.getvalue()


def xls(rows: list[list[object]], *, title: str | None = None,
        formulas: dict[tuple[int, int], str] | None = None) -> bytes:
    """An old .xls (BIFF8) as Excel 2003 and WPS make it."""
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("Sheet1")
    r = 0
    if title:
        sheet.write_merge(0, 0, 0, max(len(row) for row in rows) - 1, title)
        r = 1
    date_style = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    for row in rows:
        for c, value in enumerate(row):
            if formulas and (r, c) in formulas:
                sheet.write(r, c, xlwt.Formula(formulas[(r, c)]))
            elif isinstance(value, date):
                sheet.write(r, c, value, date_style)
            elif value is not None:
                sheet.write(r, c, value)
        r += 1
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
