"""Exports of the registry (residents, households), the blank roster template and the
error report of an import, in the government layout of fangkong.lib.spreadsheets.write.

Personal data is masked unless the user may see it in full and asks for it; every export
is audited and carries the exporter's name and time in the file (footer, watermark,
print header and document properties).
"""

from __future__ import annotations

from collections.abc import Iterator

from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from fangkong.accounts.roles import Can, can
from fangkong.audit.models import AuditAction
from fangkong.audit.services import audit_record
from fangkong.lib import crypto
from fangkong.lib.spreadsheets.exports import (
    FORMATS,
    Export,
    area_line,
    content_type,
    spool,
    stamp,
)
from fangkong.lib.spreadsheets.read import read_sheet
from fangkong.lib.spreadsheets.write import Column, Layout
from fangkong.places.models import Area, Household
from fangkong.places.selectors import area_breadcrumbs, households_for_user
from fangkong.residents.models import Gender, Relation, Resident, Tag
from fangkong.residents.personal import ID_NUMBER, PHONE
from fangkong.residents.selectors import residents_for_user
from fangkong.rosters.models import RosterImport
from fangkong.rosters.selectors import import_problems
from fangkong.rosters.staging import file_get

CHUNK = 5000


def _filename(stem: str, area: Area, fmt: str) -> str:
    return f"{area.name}{stem}_{timezone.localdate():%Y%m%d}.{fmt}"


def _residents_in(by, area: Area) -> QuerySet[Resident]:  # noqa: ANN001
    return residents_for_user(by).filter(area.scoped_rows_q())


def _resident_layout(by, area: Area, rows: int) -> Layout:  # noqa: ANN001
    footer, watermark = stamp(by, rows)
    address = _("Address")
    return Layout(
        title=_("%(area)s resident roster") % {"area": area.name},
        subtitle=area_line(a.name for a in area_breadcrumbs(by, area)),
        columns=(
            Column(_("No."), width=7, kind="number"),
            Column(_("Name"), width=12),
            Column(_("Gender"), width=6),
            Column(_("Birth date"), width=12, kind="date"),
            Column(_("ID number"), width=22),
            Column(_("Phone"), width=16),
            Column(_("Estate"), group=address),
            Column(_("Building"), width=8, group=address),
            Column(_("Unit"), width=6, group=address),
            Column(_("Room"), width=8, group=address),
            Column(_("Grid")),
            Column(_("Relation to householder"), width=12),
            Column(_("Tags")),
            Column(_("Remarks"), width=30),
        ),
        footer=footer, watermark=watermark, sheet_name=_("Residents"))


def export_residents(*, by, area: Area, fmt: str, full: bool = False,  # noqa: ANN001
                     ip: str | None = None) -> Export:
    """All residents of `area` (in the user's scope), masked unless `full` and allowed."""
    if not can(by, Can.EXPORT):
        raise PermissionDenied(_("Your role cannot export."))
    if full and not can(by, Can.EXPORT_UNMASKED):
        raise PermissionDenied(_("Your role cannot export full ID numbers and phones."))
    if fmt not in FORMATS:
        raise ValueError(fmt)
    qs = _residents_in(by, area).order_by("grid__path", "household__building__estate",
                                          "household__building__number", "household__unit",
                                          "household__room", "pk")
    total = qs.count()
    audit_record(by=by, action=AuditAction.EXPORT, object_type="residents",
                 object_label=area.name, area_path=area.path, ip=ip,
                 changes={"rows": ["", total], "format": ["", fmt], "full": ["", full]})
    out, n = spool(fmt, _resident_layout(by, area, total), _resident_rows(qs, full=full))
    stem = pgettext("export file name", "residents")
    return Export(out, _filename(stem, area, fmt), content_type(fmt), n)


def _resident_rows(qs: QuerySet[Resident], *, full: bool) -> Iterator[list]:
    ring = crypto.keyring()
    tag_names = dict(Tag.objects.values_list("pk", "name"))
    genders = dict(Gender.choices)
    relations = dict(Relation.choices)
    fields = ("pk", "name", "gender", "birth_date", "id_number_masked", "phone_masked",
              "household__building__estate", "household__building__name",
              "household__unit", "household__room", "grid__name", "relation", "remarks")
    if full:
        fields += ("id_number_sealed", "phone_sealed")
    number = 0
    # The ids in the export's order first (one narrow query), then the rows chunk by
    # chunk: memory stays bounded and no query sorts wide rows.
    ids = list(qs.values_list("pk", flat=True))
    for i in range(0, len(ids), CHUNK):
        chunk = ids[i:i + CHUNK]
        rows = {r[0]: r for r in Resident.objects.filter(pk__in=chunk).values_list(*fields)}
        tags: dict[int, list[str]] = {}
        for rid, tid in Resident.tags.through.objects.filter(
                resident_id__in=chunk).values_list("resident_id", "tag_id"):
            tags.setdefault(rid, []).append(tag_names.get(tid, ""))
        for rid in chunk:
            r = rows.get(rid)
            if r is None:
                continue
            number += 1
            id_number, phone = r[4], r[5]
            if full:
                id_number = ring.open(r[13], purpose=ID_NUMBER) if r[13] else ""
                phone = ring.open(r[14], purpose=PHONE) if r[14] else ""
            yield [number, r[1], str(genders.get(r[2], "")) if r[2] != "U" else "", r[3],
                   id_number, phone, r[6], r[7], f"{r[8]}单元", r[9], r[10],
                   str(relations.get(r[11], "")), "、".join(tags.get(rid, [])), r[12]]


def export_households(*, by, area: Area, fmt: str, full: bool = False,  # noqa: ANN001
                      ip: str | None = None) -> Export:
    """All households of `area` with their member count and householder (masked phone)."""
    if not can(by, Can.EXPORT):
        raise PermissionDenied(_("Your role cannot export."))
    if fmt not in FORMATS:
        raise ValueError(fmt)
    qs = households_for_user(by).filter(area.scoped_rows_q())
    qs = qs.order_by("grid__path", "building__estate", "building__number", "unit", "room")
    total = qs.count()
    audit_record(by=by, action=AuditAction.EXPORT, object_type="households",
                 object_label=area.name, area_path=area.path, ip=ip,
                 changes={"rows": ["", total], "format": ["", fmt], "full": ["", False]})
    footer, watermark = stamp(by, total)
    address = _("Address")
    layout = Layout(
        title=_("%(area)s household list") % {"area": area.name},
        subtitle=area_line(a.name for a in area_breadcrumbs(by, area)),
        columns=(Column(_("No."), width=7, kind="number"), Column(_("Estate"), group=address),
                 Column(_("Building"), width=8, group=address),
                 Column(_("Unit"), width=6, group=address),
                 Column(_("Room"), width=8, group=address), Column(_("Grid")),
                 Column(_("Residents"), width=8, kind="number"), Column(_("Householder")),
                 Column(_("Phone"), width=16)),
        footer=footer, watermark=watermark, sheet_name=_("Households"))
    out, n = spool(fmt, layout, _household_rows(qs))
    stem = pgettext("export file name", "households")
    return Export(out, _filename(stem, area, fmt), content_type(fmt), n)


def _household_rows(qs: QuerySet[Household]) -> Iterator[list]:
    ids = list(qs.values_list("pk", flat=True))
    number = 0
    for i in range(0, len(ids), CHUNK):
        chunk = ids[i:i + CHUNK]
        rows = {r[0]: r for r in Household.objects.filter(pk__in=chunk).annotate(
            n=Count("residents")).values_list("pk", "building__estate", "building__name",
                                              "unit", "room", "grid__name", "n")}
        heads: dict[int, tuple[str, str]] = {}
        for hid, name, phone in Resident.objects.filter(
                household_id__in=chunk, relation=Relation.SELF).order_by("pk").values_list(
                "household_id", "name", "phone_masked"):
            heads.setdefault(hid, (name, phone))
        for hid in chunk:
            r = rows.get(hid)
            if r is None:
                continue
            number += 1
            head = heads.get(hid, ("", ""))
            yield [number, r[1], r[2], f"{r[3]}单元", r[4], r[5], r[6], head[0], head[1]]


def blank_template(*, by) -> Export:  # noqa: ANN001
    """An empty roster with the columns fangkong recognises and one example row."""
    footer, watermark = stamp(by)
    layout = Layout(
        title=_("Resident roster (template)"),
        subtitle=_("Fill in one resident per row. Format the ID number and phone columns "
                   "as Text. Delete the example row before importing."),
        columns=(Column("姓名", width=12), Column("身份证号", width=22),
                 Column("联系电话", width=16), Column("性别", width=6),
                 Column("出生日期", width=12), Column("小区", width=14),
                 Column("楼栋", width=8), Column("单元", width=6), Column("房号", width=8),
                 Column("网格", width=10), Column("与户主关系", width=12),
                 Column("人员类别", width=14), Column("备注", width=30)),
        footer=footer, watermark=watermark, sheet_name=_("Residents"))
    example = [["张三（示例，请删除）", "", "13800000000", "男", "1950-01-01", "幸福小区", "3",
                "2", "501", "第1网格", "户主", "独居老人", ""]]
    out, n = spool("xlsx", layout, example)
    return Export(out, "居民信息导入模板.xlsx", content_type("xlsx"), n)


def error_report(*, by, roster_import: RosterImport, ip: str | None = None) -> Export:  # noqa: ANN001
    """The rows of the uploaded file that have problems, each with the problem next to it,
    so the user can correct them in Excel and import them again. Audited (it holds the
    file's personal data)."""
    problems: dict[int, list[str]] = {}
    for row, column, message in import_problems(roster_import).values_list(
            "row", "column", "message"):
        problems.setdefault(row, []).append(f"{column}：{message}" if column else message)
    sheet = read_sheet(file_get(roster_import), filename=roster_import.filename,
                       encoding=roster_import.encoding or None)
    footer, watermark = stamp(by, len(problems))
    columns = (Column(_("Row in the file"), width=8, kind="number"),
               Column(_("Problem"), width=50),
               *(Column(name) for name in roster_import.columns))

    def rows() -> Iterator[list]:
        for row in sorted(problems):
            cells = sheet.rows[row - 1] if row - 1 < len(sheet.rows) else []
            width = len(roster_import.columns)
            cells = [*cells[:width], *[None] * (width - len(cells))]  # short CSV rows
            yield [row, "；".join(problems[row]), *[_cell(c) for c in cells]]

    layout = Layout(title=_("Rows that could not be imported: %(file)s")
                    % {"file": roster_import.filename},
                    subtitle=_("Correct the rows in the columns on the right, then import "
                               "the corrected file again."),
                    columns=columns, footer=footer, watermark=watermark,
                    sheet_name=_("Problems"))
    out, n = spool("xlsx", layout, rows())
    # Recorded once the file exists: a download that failed is not an export.
    audit_record(by=by, action=AuditAction.EXPORT, object_type="roster_errors",
                 object_id=roster_import.pk, object_label=roster_import.filename,
                 area_path=roster_import.area.path, ip=ip, changes={"rows": ["", n]})
    stem = roster_import.filename.rsplit(".", 1)[0]
    return Export(out, f"{stem}_问题行.xlsx", content_type("xlsx"), n)


def _cell(value: object) -> object:
    if isinstance(value, float):
        # Show a mangled ID number as Excel did (1.10105E+17), never as a made-up integer.
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.6G}"
    return value
