"""Writes to the area tree and dwellings, and the roll-up of area figures."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from fangkong.accounts.roles import Can, can
from fangkong.audit.models import AuditAction
from fangkong.audit.services import audit_record
from fangkong.lib.text import to_halfwidth
from fangkong.places.models import (
    AREA_LEVELS,
    CHILD_KIND,
    Area,
    AreaKind,
    AreaStats,
    Building,
    Household,
    household_label,
)
from fangkong.places.selectors import buildings_for_user

ELDERLY_AGE = 65


@transaction.atomic
def area_create(*, kind: str, name: str, parent: Area | None, code: str = "",
                segment: str | None = None) -> Area:
    """Create an area under `parent`; its path segment is its official code where it has
    one, else a zero-padded sequence number among its siblings."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": _("Enter the area's name.")})
    if parent is None:
        if kind != AreaKind.CITY:
            raise ValidationError({"parent": _("Only a city can be at the top of the tree.")})
    elif CHILD_KIND[parent.kind] is None:
        raise ValidationError({"parent": _(
            "A grid contains buildings and households, not other areas.")})
    elif CHILD_KIND[parent.kind] != kind:
        raise ValidationError({"kind": _("Below a %(parent)s come %(child)s areas.") % {
            "parent": AreaKind(parent.kind).label,
            "child": AreaKind(CHILD_KIND[parent.kind]).label}})
    if segment is None:
        if code and kind in (AreaKind.CITY, AreaKind.DISTRICT):
            segment = code
        else:
            # One more than the highest numbered sibling (a deleted one leaves a gap).
            numbers = [int(p.rsplit(".", 1)[-1]) for p in Area.objects.filter(
                parent=parent).values_list("path", flat=True) if p.rsplit(".", 1)[-1].isdigit()
                       ] if parent else []
            following = max(numbers, default=0) + 1
            segment = f"{following:03d}" if kind != AreaKind.GRID else f"{following:02d}"
    path = f"{parent.path}.{segment}" if parent else segment
    if Area.objects.filter(path=path).exists():
        raise ValidationError({"code": _("An area with this code already exists here.")})
    area = Area.objects.create(kind=kind, name=name, parent=parent, code=code, path=path,
                               depth=AREA_LEVELS[kind])
    AreaStats.objects.create(area=area)
    return area


def _grid_ancestors(grid: Area) -> dict[str, int]:
    if grid.kind != AreaKind.GRID:
        raise ValidationError({"grid": _("Buildings belong to a grid.")})
    community = grid.parent
    street = community.parent
    return {"grid_id": grid.pk, "community_id": community.pk, "street_id": street.pk,
            "district_id": street.parent_id}


@transaction.atomic
def building_create(*, grid: Area, number: int, name: str = "", estate: str = "",
                    address: str = "", floors: int | None = None, units: int = 1) -> Building:
    if number < 1:
        raise ValidationError({"number": _("A building number is 1 or more.")})
    if Building.objects.filter(grid=grid, estate=estate, number=number).exists():
        raise ValidationError({"number": _("Building %(n)s already exists in this grid.")
                               % {"n": number}})
    building = Building.objects.create(
        number=number, name=name or f"{number}栋", estate=estate, address=address,
        floors=floors, units=units, **_grid_ancestors(grid))
    stats_refresh(grid_ids=[grid.pk])
    return building


@transaction.atomic
def household_create(*, building: Building, unit: int, room: str, remarks: str = "",
                     by=None, ip: str | None = None) -> Household:  # noqa: ANN001
    """Register a room of `building` as a household. With `by` (a staff user; None for
    the system, e.g. an import already checked), checks their right and area, and audits."""
    if by is not None:
        if not can(by, Can.EDIT_RESIDENTS):
            raise PermissionDenied(_("Your role cannot change the registry."))
        if not buildings_for_user(by).filter(pk=building.pk).exists():
            raise Http404
    room = to_halfwidth(room).strip().removesuffix("室")
    if not room:
        raise ValidationError({"room": _("Enter the room number, e.g. 501.")})
    if unit < 1 or unit > 99:
        raise ValidationError({"unit": _("The unit is a number from 1 to 99.")})
    if Household.objects.filter(building=building, unit=unit, room=room).exists():
        raise ValidationError({"room": _("This room is already registered in this building.")})
    household = Household(building=building, unit=unit, room=room, remarks=remarks,
                          label=household_label(building.name, unit, room))
    household.copy_scope_from(building)
    try:
        with transaction.atomic():
            household.save()
    except IntegrityError as exc:  # the same room added at the same moment by someone else
        raise ValidationError({"room": _(
            "This room is already registered in this building.")}) from exc
    if by is not None:
        audit_record(by=by, action=AuditAction.HOUSEHOLD_CREATE, object_type="household",
                     object_id=household.pk, object_label=household.label,
                     area_path=building.grid.path, ip=ip)
    stats_refresh(grid_ids=[building.grid_id])
    return household


FIGURE_COUNTS = ("residents", "households", "buildings", "elderly")


def _no_figures() -> dict:
    return {**dict.fromkeys(FIGURE_COUNTS, 0), "by_tag": {}}


def _figures_save(rows: list[AreaStats]) -> None:
    AreaStats.objects.bulk_create(rows, update_conflicts=True, unique_fields=["area"],
                                  update_fields=[*FIGURE_COUNTS, "by_tag", "refreshed_at"])


def _grid_figures(grid_ids: list[int] | None, today: date) -> dict[int, dict]:
    from fangkong.residents.models import Resident, ResidentStatus

    figures: dict[int, dict] = defaultdict(_no_figures)
    try:
        born_by = today.replace(year=today.year - ELDERLY_AGE)
    except ValueError:  # 29 February
        born_by = today.replace(year=today.year - ELDERLY_AGE, day=28)
    grid_filter = Q() if grid_ids is None else Q(grid_id__in=grid_ids)
    tag_filter = Q() if grid_ids is None else Q(resident__grid_id__in=grid_ids)
    active = Resident.objects.filter(grid_filter, status=ResidentStatus.ACTIVE)
    for row in active.values("grid_id").annotate(
        n=Count("id"), old=Count("id", filter=Q(birth_date__lte=born_by))
    ).order_by():
        figures[row["grid_id"]]["residents"] = row["n"]
        figures[row["grid_id"]]["elderly"] = row["old"]
    for row in Household.objects.filter(grid_filter).values("grid_id").annotate(
            n=Count("id")).order_by():
        figures[row["grid_id"]]["households"] = row["n"]
    for row in Building.objects.filter(grid_filter).values("grid_id").annotate(
            n=Count("id")).order_by():
        figures[row["grid_id"]]["buildings"] = row["n"]
    through = Resident.tags.through
    for row in through.objects.filter(tag_filter, resident__status=ResidentStatus.ACTIVE).values(
            "resident__grid_id", "tag__slug").annotate(n=Count("id")).order_by():
        figures[row["resident__grid_id"]]["by_tag"][row["tag__slug"]] = row["n"]
    return figures


@transaction.atomic
def stats_refresh(*, grid_ids: Iterable[int] | None = None, today: date | None = None) -> int:
    """Recompute the figures of the given grids (all grids when None) from the rows, then
    re-add every ancestor from its children. Idempotent; returns the grids recomputed."""
    today = today or timezone.localdate()
    now = timezone.now()
    # Lock the figures to be rewritten (grids and their ancestors, in id order so that two
    # refreshes never deadlock) before counting: a concurrent refresh of a sibling then
    # waits and counts after this one commits, instead of overwriting it with a count
    # taken before. (SQLite serialises writers anyway.)
    locked = AreaStats.objects.select_for_update(of=("self",)).order_by("area_id")
    areas = Area.objects.all()
    if grid_ids is not None:
        paths = list(Area.objects.filter(pk__in=set(grid_ids)).values_list("path", flat=True))
        chain = {".".join(p.split(".")[:i]) for p in paths for i in range(1, p.count(".") + 2)}
        areas = areas.filter(path__in=chain)
        locked = locked.filter(area__path__in=chain)
    list(locked.values_list("area_id", flat=True))
    kinds = list(areas.values_list("pk", "kind"))
    grids = sorted(pk for pk, kind in kinds if kind == AreaKind.GRID)
    figures = _grid_figures(None if grid_ids is None else grids, today)
    _figures_save([AreaStats(area_id=g, refreshed_at=now, **figures[g]) for g in grids])
    # Roll up, level by level: each ancestor is the sum of its children's rows.
    for level in (AreaKind.COMMUNITY, AreaKind.STREET, AreaKind.DISTRICT, AreaKind.CITY):
        sums = {pk: _no_figures() for pk, kind in kinds if kind == level}
        for stats in AreaStats.objects.filter(area__parent_id__in=list(sums)).select_related(
                "area").only("area__parent_id", *FIGURE_COUNTS, "by_tag"):
            total = sums[stats.area.parent_id]
            for field in FIGURE_COUNTS:
                total[field] += getattr(stats, field)
            for slug, n in stats.by_tag.items():
                total["by_tag"][slug] = total["by_tag"].get(slug, 0) + n
        _figures_save([AreaStats(area_id=pk, refreshed_at=now, **sums[pk]) for pk in sums])
    return len(grids)
