"""The passage log: every scan at the gates, as the staff of an area may read it, and its
export.

Who reads what (`passages_for_user`): a grid worker the passages of the residents of their
grid (wherever they were scanned); a community worker or secretary the passages at their
community's gates; a street officer or administrator those at the gates of every
community under them. Guards and volunteers read none (they see their own scans on the
scanner). Names are masked, there is never a phone or an ID number.

The export lists the same rows as the page for the same filters, as .xlsx or .csv,
stamped with the exporter and the time and audited (EXPORT, object type "passages").
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from fangkong.accounts.models import User
from fangkong.accounts.roles import Can, can
from fangkong.accounts.scope import NOTHING, user_area
from fangkong.audit.models import AuditAction
from fangkong.audit.services import audit_record
from fangkong.followup.channels.base import masked_name
from fangkong.lib.address import parse_room
from fangkong.lib.spreadsheets.exports import FORMATS, Export, area_line, content_type, spool, stamp
from fangkong.lib.spreadsheets.write import Column, Layout
from fangkong.lib.text import to_halfwidth
from fangkong.passes.models import Direction, Gate, Passage, Refusal, Result
from fangkong.places.models import Area, AreaKind
from fangkong.places.selectors import area_breadcrumbs

LOG_PAGE = 50
MAX_DAYS = 31  # the longest range of days listed or exported at once
GATE_CHOICES = 300  # gates offered in the filter; more (a district) and it lists none
SEARCH_CHARS = 40

_RELATED = ("gate", "community", "resident", "household", "visitor",
            "visitor__host_household", "guard", "device")


def may_read_log(user) -> bool:  # noqa: ANN001
    """Workers who issue passes (their residents') and the managers of gates (their
    area's)."""
    return can(user, Can.ISSUE_PASSES) or can(user, Can.MANAGE_GATES)


def communities_under(area: Area) -> QuerySet[Area]:
    """The communities of `area` (itself, for a community): a subquery of ids."""
    if area.kind == AreaKind.COMMUNITY:
        return Area.objects.filter(pk=area.pk)
    return Area.objects.filter(area.subtree_q(), kind=AreaKind.COMMUNITY)


def passages_in(area: Area) -> QuerySet[Passage]:
    """Every passage at the gates of the communities of `area`; for a grid, the passages
    of its residents. One indexed equality or an id subquery."""
    if area.kind == AreaKind.GRID:
        return Passage.objects.filter(grid_id=area.pk)
    if area.kind == AreaKind.COMMUNITY:
        return Passage.objects.filter(community_id=area.pk)
    return Passage.objects.filter(community_id__in=communities_under(area).values("pk"))


def passages_for_user(user) -> QuerySet[Passage]:  # noqa: ANN001
    """Every passage the user may read (see the module's docstring)."""
    if not may_read_log(user):
        return Passage.objects.none()
    if user.is_superuser:
        return Passage.objects.all()
    area = user_area(user)
    if area is None:
        return Passage.objects.filter(NOTHING)
    return passages_in(area)


def log_gates(user) -> list[Gate]:  # noqa: ANN001
    """The gates to offer in the log's filter: those of the user's communities (a grid
    worker's: their grid's community), at most GATE_CHOICES, else none."""
    if not may_read_log(user):
        return []
    gates = Gate.objects.select_related("community").order_by("community__name", "name")
    area = user_area(user)
    if not user.is_superuser:
        if area is None:
            return []
        if area.kind == AreaKind.GRID:
            gates = gates.filter(community_id=area.parent_id)
        else:
            gates = gates.filter(community_id__in=communities_under(area).values("pk"))
    shown = list(gates[:GATE_CHOICES + 1])
    return shown if len(shown) <= GATE_CHOICES else []


@dataclass(frozen=True)
class LogFilter:
    """What the log shows: local days `first` to `last`, and optionally one gate, one
    direction, a result, a reason of refusal, a resident's name or room."""

    first: date
    last: date
    gate_id: int | None = None
    direction: str = ""
    result: str = ""
    refusal: str = ""
    q: str = ""

    def window(self) -> tuple[datetime, datetime]:
        zone = timezone.get_current_timezone()
        return (datetime.combine(self.first, time.min, tzinfo=zone),
                datetime.combine(self.last + timedelta(days=1), time.min, tzinfo=zone))

    def as_params(self) -> dict[str, str]:
        """The filter as query parameters (the pager's links, the export's form)."""
        params = {"first": f"{self.first:%Y-%m-%d}", "last": f"{self.last:%Y-%m-%d}",
                  "gate": str(self.gate_id or ""), "direction": self.direction,
                  "result": self.result, "refusal": self.refusal, "q": self.q}
        return {k: v for k, v in params.items() if v}


def _search_q(text: str) -> Q:
    """A resident's name (any part) or room: "3-2-501", "3栋2单元501", "501"."""
    text = " ".join(to_halfwidth(text).split())[:SEARCH_CHARS]
    ref = parse_room(text)
    if ref is not None:
        room = Q(household__building__number=ref.building)
        if ref.unit is not None:
            room &= Q(household__unit=ref.unit)
        if ref.room is not None:
            room &= Q(household__room=ref.room)
        return room
    return (Q(resident__name__icontains=text) | Q(household__label__icontains=text)
            | Q(household__room=text))


def passage_search(user, filters: LogFilter) -> QuerySet[Passage]:  # noqa: ANN001
    """The passages the user may read that match `filters`, newest first, with what a
    row shows already joined (no query per row)."""
    start, end = filters.window()
    rows = passages_for_user(user).filter(at__gte=start, at__lt=end)
    if filters.gate_id:
        rows = rows.filter(gate_id=filters.gate_id)
    if filters.direction in Direction.values:
        rows = rows.filter(direction=filters.direction)
    if filters.result in Result.values:
        rows = rows.filter(result=filters.result)
    if filters.refusal in Refusal.values:
        rows = rows.filter(refusal=filters.refusal)
    if filters.q.strip():
        rows = rows.filter(_search_q(filters.q))
    return rows.select_related(*_RELATED).order_by("-at", "-pk")


@dataclass(frozen=True)
class PassageRow:
    """One passage as a page shows it: the name masked, no phone or ID number."""

    at: datetime
    gate: str
    community: str
    direction: str
    kind: str  # resident / visitor / unknown
    name: str
    room: str
    temperature: Decimal | None
    passed: bool
    result: str
    reason: str
    fever: bool
    by: str


def _who(p: Passage) -> tuple[str, str, str]:
    """(kind, masked name, room) of a passage with its relations joined."""
    if p.visitor_id and p.visitor is not None:
        host = p.visitor.host_household
        return "visitor", masked_name(p.visitor.name), host.label if host else ""
    room = p.household.label if p.household_id and p.household is not None else ""
    if p.resident_id and p.resident is not None:
        return "resident", masked_name(p.resident.name), room
    return ("household" if room else "unknown"), "", room


def _by(p: Passage) -> str:
    if p.device_id and p.device is not None:
        return p.device.name
    if p.guard_id and p.guard is not None:
        return p.guard.display_name
    return ""


def passage_row(p: Passage) -> PassageRow:
    kind, name, room = _who(p)
    return PassageRow(
        at=p.at, gate=p.gate.name, community=p.community.name,
        direction=str(Direction(p.direction).label), kind=kind, name=name, room=room,
        temperature=p.temperature, passed=p.result == Result.PASSED,
        result=str(Result(p.result).label),
        reason=str(Refusal(p.refusal).label) if p.refusal in Refusal.values else "",
        fever=p.refusal == Refusal.FEVER, by=_by(p))


def kind_labels() -> dict[str, str]:
    return {"resident": _("Resident"), "visitor": _("Visitor"),
            "household": _("Household pass"), "unknown": _("Unreadable or unknown code")}


# The export -------------------------------------------------------------------------------


def _export_layout(by: User, area: Area | None, title: str, rows: int) -> Layout:
    footer, watermark = stamp(by, rows)
    names = [a.name for a in area_breadcrumbs(by, area)] if area is not None else []
    return Layout(
        title=title,
        subtitle=area_line(names),
        columns=(
            Column(_("Time"), width=17, kind="datetime"),
            Column(_("Community"), width=14),
            Column(_("Gate"), width=12),
            Column(pgettext("gate", "In/out"), width=6),
            Column(_("Who"), width=10),
            Column(_("Name"), width=10),
            Column(_("Room"), width=18),
            Column(_("Temperature (°C)"), width=9, kind="number"),
            Column(_("Result"), width=8),
            Column(_("Reason"), width=22),
            Column(_("Guard or device"), width=14),
        ),
        footer=footer, watermark=watermark, sheet_name=_("Passages"))


def _export_rows(rows: QuerySet[Passage]) -> Iterator[list[object]]:
    kinds = kind_labels()
    for p in rows.iterator(chunk_size=2000):
        row = passage_row(p)
        yield [row.at, row.community, row.gate, row.direction, kinds[row.kind], row.name,
               row.room, row.temperature, row.result, row.reason, row.by]


def passages_export(*, by: User, filters: LogFilter, fmt: str,
                    ip: str | None = None) -> Export:
    """The passages of the log for `filters` as .xlsx or .csv: names masked, never a
    phone or an ID number, the exporter and the time printed in the file. Needs the log
    and the export capability (PermissionDenied otherwise); audited as an export with the
    days, the filters, the rows and the format."""
    if not (may_read_log(by) and can(by, Can.EXPORT)):
        raise PermissionDenied(_("Your role cannot export the passage log."))
    if fmt not in FORMATS:
        raise ValueError(fmt)
    if filters.last < filters.first or (filters.last - filters.first).days >= MAX_DAYS:
        raise ValueError(f"bad range {filters.first}..{filters.last}")
    area = user_area(by)
    rows = passage_search(by, filters).order_by("at", "pk")
    total = rows.count()
    days = f"{filters.first:%Y-%m-%d} – {filters.last:%Y-%m-%d}"
    place = area.name if area is not None else ""
    title = _("%(area)s gate passages %(days)s") % {"area": place, "days": days}
    out, n = spool(fmt, _export_layout(by, area, title, total), _export_rows(rows))
    params = filters.as_params()
    audit_record(by=by, action=AuditAction.EXPORT, object_type="passages",
                 object_id=area.pk if area is not None else "", object_label=title,
                 area_path=area.path if area is not None else "", ip=ip,
                 changes={**{k: ["", v] for k, v in params.items()},
                          "rows": ["", n], "format": ["", fmt]})
    stem = pgettext("export file name", "passages")
    return Export(out, f"{place}{stem}_{filters.first:%Y%m%d}-{filters.last:%Y%m%d}.{fmt}",
                  content_type(fmt), n)
