"""What every export of fangkong shares, whatever it lists: the file handed to the view,
its content type, the exporter's stamp (footer and watermark) and the area line under the
title. The apps build their layouts and rows (fangkong.rosters.exports,
fangkong.followup.exports) and write them through :func:`spool`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.http import FileResponse
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from fangkong.lib.spreadsheets.write import Layout, write_csv, write_xlsx

__all__ = ["FORMATS", "Export", "area_line", "content_type", "spool", "stamp"]

FORMATS = ("xlsx", "csv")

_SPOOL_IN_MEMORY = 32 * 2**20
"""Bytes an export is held in memory before it goes to a temporary file."""


@dataclass
class Export:
    """A written export, rewound, for the view to send as an attachment."""

    file: tempfile.SpooledTemporaryFile
    filename: str
    content_type: str
    rows: int

    def response(self) -> FileResponse:
        """The download the browser saves under the export's file name."""
        return FileResponse(self.file, as_attachment=True, filename=self.filename,
                            content_type=self.content_type)


def content_type(fmt: str) -> str:
    return ("text/csv; charset=utf-8" if fmt == "csv" else
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def stamp(by, rows: int | None = None) -> tuple[str, str]:  # noqa: ANN001 - any Django user
    """(footer, watermark) naming the exporter and the time, and the rows if given."""
    now = timezone.localtime()
    who = getattr(by, "display_name", "") or by.get_username()
    role = by.get_role_display() if getattr(by, "role", "") else _("Superuser")
    footer = _("Exported by %(who)s (%(role)s) at %(time)s") % {
        "who": who, "role": role, "time": f"{now:%Y-%m-%d %H:%M}"}
    if rows is not None:
        footer += "  " + _("%(n)s rows") % {"n": number_format(rows, force_grouping=True)}
    watermark = _("%(who)s %(time)s · for community prevention and care only; do not pass "
                  "on") % {"who": who, "time": f"{now:%Y-%m-%d %H:%M}"}
    return footer, watermark


def area_line(names: Iterable[str]) -> str:
    """The subtitle "Area: <path>    Date: <today>", the path being the names of the areas
    from the top down (fangkong.places.selectors.area_breadcrumbs)."""
    return _("Area: %(path)s    Date: %(date)s") % {
        "path": " / ".join(names), "date": f"{timezone.localdate():%Y-%m-%d}"}


def spool(fmt: str, layout: Layout, rows: Iterable[Sequence[object]],
          ) -> tuple[tempfile.SpooledTemporaryFile, int]:
    """Write ``rows`` as ``fmt`` ("xlsx" or "csv") into a temporary file (in memory up to
    32 MiB); return it rewound and the number of data rows written."""
    out = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115 - returned open
    n = write_csv(out, layout, rows) if fmt == "csv" else write_xlsx(out, layout, rows)
    out.seek(0)
    return out, n
