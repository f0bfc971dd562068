"""The gate figures of an area for one day: per hour the passages in and out, the refused
and the fevers; the totals per gate; for a street or above, one line per community.

Who reads them: the managers of gates (community secretary, street officer,
administrator) for an area of their own subtree; `area_for_gate_figures` is the access
gate (404 outside the user's area, then 403 without the capability). The counting is two
aggregate queries whatever the number of passages (hours in the local time zone by
TruncHour, on SQLite and PostgreSQL alike), plus the names of the gates and communities.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncHour
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from fangkong.accounts.roles import Can, can
from fangkong.accounts.scope import area_in_scope
from fangkong.passes.log import communities_under, passages_in
from fangkong.passes.models import Direction, Gate, Passage, Refusal, Result
from fangkong.places.models import Area, AreaKind

# Above a street, the gates and communities with the most passages, at most this many.
LINES_CAP = 300
FIGURE_KINDS = (AreaKind.COMMUNITY, AreaKind.STREET, AreaKind.DISTRICT, AreaKind.CITY)

_PASSED = Q(result=Result.PASSED)
_COUNTS = {
    "passed_in": Count("pk", filter=_PASSED & Q(direction=Direction.IN)),
    "passed_out": Count("pk", filter=_PASSED & Q(direction=Direction.OUT)),
    "refused": Count("pk", filter=Q(result=Result.REFUSED)),
    "fever": Count("pk", filter=Q(refusal=Refusal.FEVER)),
}


def area_for_gate_figures(user, area_id: int) -> Area:  # noqa: ANN001
    """The access gate of the gate figures: the area if it lies in the user's own (404
    otherwise, and for a grid, which has no gates of its own), then the capability to
    manage gates (403)."""
    area = area_in_scope(user, area_id)
    if area.kind not in FIGURE_KINDS:
        raise Http404
    if not can(user, Can.MANAGE_GATES):
        raise PermissionDenied
    return area


@dataclass
class Counts:
    passed_in: int = 0
    passed_out: int = 0
    refused: int = 0  # every refusal, fevers included
    fever: int = 0

    @property
    def total(self) -> int:
        return self.passed_in + self.passed_out + self.refused

    @property
    def refused_other(self) -> int:
        return self.refused - self.fever

    def add(self, row: dict) -> None:
        self.passed_in += row["passed_in"]
        self.passed_out += row["passed_out"]
        self.refused += row["refused"]
        self.fever += row["fever"]


@dataclass
class GateLine:
    gate: Gate
    counts: Counts


@dataclass
class CommunityLine:
    community: Area
    gates: int  # gates with passages this day
    counts: Counts


@dataclass
class GateFigures:
    area: Area
    day: date
    gate: Gate | None  # the hours are of this gate; None: of every gate of the area
    hours: list[Counts]  # 24, local time
    totals: Counts
    gates: list[GateLine]
    gates_hidden: int
    communities: list[CommunityLine] = field(default_factory=list)
    communities_hidden: int = 0

    @property
    def busy_hours(self) -> list[tuple[int, Counts]]:
        """The hours with a passage, for the table."""
        return [(h, c) for h, c in enumerate(self.hours) if c.total]

    def chart(self) -> dict:
        """The hours as the page's chart draws them (a json_script blob): a stack of in,
        out, refused for another reason and refused for fever."""
        def series(key: str, name: str, values: list[int]) -> dict:
            return {"key": key, "name": name, "data": values}

        return {
            "hours": [f"{h:02d}" for h in range(24)],
            "series": [
                series("in", pgettext("gate", "In"), [c.passed_in for c in self.hours]),
                series("out", pgettext("gate", "Out"), [c.passed_out for c in self.hours]),
                series("refused", _("Refused (other reasons)"),
                       [c.refused_other for c in self.hours]),
                series("fever", _("Refused: fever"), [c.fever for c in self.hours]),
            ],
            "hour_label": _("Hour"),
            "count_label": _("Passages"),
        }


def day_window(day: date) -> tuple[datetime, datetime]:
    zone = timezone.get_current_timezone()
    return (datetime.combine(day, time.min, tzinfo=zone),
            datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone))


def gates_of(area: Area) -> QuerySet[Gate]:
    return Gate.objects.filter(community_id__in=communities_under(area).values("pk"))


def _hours(rows: QuerySet[Passage]) -> list[Counts]:
    """Per local hour of the day. One aggregate query."""
    zone = timezone.get_current_timezone()
    hours = [Counts() for _h in range(24)]
    per_hour = (rows.annotate(hour=TruncHour("at", tzinfo=zone)).values("hour").order_by()
                .annotate(**_COUNTS))
    for row in per_hour:
        hours[timezone.localtime(row["hour"], zone).hour].add(row)
    return hours


def area_gate_figures(area: Area, day: date, *, gate_id: int | None = None) -> GateFigures:
    """The figures of `area` (a community or above) on the local `day`; the hours of one
    of its gates when `gate_id` names one (else of all). The caller has passed
    `area_for_gate_figures`."""
    start, end = day_window(day)
    rows = passages_in(area).filter(at__gte=start, at__lt=end)
    gate = (gates_of(area).select_related("community").filter(pk=gate_id).first()
            if gate_id else None)
    hours = _hours(rows.filter(gate_id=gate.pk) if gate is not None else rows)
    per_gate = {r["gate_id"]: r for r in
                rows.values("gate_id", "community_id").order_by().annotate(**_COUNTS)}
    totals = Counts()
    for r in per_gate.values():
        totals.add(r)

    def counts_of(gate_pk: int) -> Counts:
        c = Counts()
        if gate_pk in per_gate:
            c.add(per_gate[gate_pk])
        return c

    small = area.kind in (AreaKind.COMMUNITY, AreaKind.STREET)
    if small:
        # Every gate in use, and any other that saw passages this day.
        shown = list(gates_of(area).filter(Q(active=True) | Q(pk__in=list(per_gate)))
                     .select_related("community").order_by("community__name", "name"))
        hidden = 0
    else:
        busiest = sorted(per_gate, key=lambda pk: (-_total(per_gate[pk]), pk))
        found = Gate.objects.select_related("community").in_bulk(busiest[:LINES_CAP])
        shown = [found[pk] for pk in busiest[:LINES_CAP] if pk in found]
        hidden = max(0, len(busiest) - LINES_CAP)
    figures = GateFigures(area=area, day=day, gate=gate, hours=hours, totals=totals,
                          gates=[GateLine(g, counts_of(g.pk)) for g in shown],
                          gates_hidden=hidden)
    if area.kind != AreaKind.COMMUNITY:
        figures.communities, figures.communities_hidden = _communities(area, per_gate)
    return figures


def _total(row: dict) -> int:
    return row["passed_in"] + row["passed_out"] + row["refused"]


def _communities(area: Area, per_gate: dict[int, dict]) -> tuple[list[CommunityLine], int]:
    """One line per community: every community of a street; above, those with passages,
    the busiest first, at most LINES_CAP."""
    sums: dict[int, tuple[int, Counts]] = {}
    for row in per_gate.values():
        n, c = sums.get(row["community_id"], (0, Counts()))
        c.add(row)
        sums[row["community_id"]] = (n + 1, c)
    if area.kind == AreaKind.STREET:
        communities = (Area.objects.filter(parent=area, kind=AreaKind.COMMUNITY)
                       .order_by("sort_order", "path"))
        return [CommunityLine(a, *sums.get(a.pk, (0, Counts()))) for a in communities], 0
    busiest = sorted(sums, key=lambda pk: (-sums[pk][1].total, pk))
    found = Area.objects.in_bulk(busiest[:LINES_CAP])
    lines = [CommunityLine(found[pk], *sums[pk]) for pk in busiest[:LINES_CAP] if pk in found]
    return lines, max(0, len(busiest) - LINES_CAP)
