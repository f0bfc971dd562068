"""Reads of the area tree and dwellings, already scoped to the user."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from fangkong.accounts.roles import Can, can
from fangkong.accounts.scope import area_scope_q, grid_scope_q
from fangkong.places.models import Area, AreaStats, Building, Household


def areas_for_user(user) -> QuerySet[Area]:  # noqa: ANN001
    if not can(user, Can.VIEW_REGISTRY):
        return Area.objects.none()
    return Area.objects.filter(area_scope_q(user))


def area_for_user(user, area_id: int) -> Area:  # noqa: ANN001
    """The access gate for areas: 404 unless the area is in the user's subtree."""
    area = areas_for_user(user).filter(pk=area_id).first()
    if area is None:
        raise Http404
    return area


def home_area(user) -> Area | None:  # noqa: ANN001
    if user.is_superuser and user.area_id is None:
        return Area.objects.filter(parent__isnull=True).order_by("pk").first()
    return user.area


def area_children(area: Area) -> list[tuple[Area, AreaStats | None]]:
    children = list(Area.objects.filter(parent=area).select_related("stats").order_by(
        "sort_order", "path"))
    return [(child, getattr(child, "stats", None)) for child in children]


def area_breadcrumbs(user, area: Area) -> list[Area]:  # noqa: ANN001
    """Ancestors of `area` the user may open (their own area and below), then the area."""
    top = home_area(user)
    paths = area.ancestor_paths()
    ancestors = list(Area.objects.filter(path__in=paths).order_by("depth"))
    if top is not None and not user.is_superuser:
        ancestors = [a for a in ancestors if a.depth >= top.depth]
    return [*ancestors, area]


def buildings_for_user(user) -> QuerySet[Building]:  # noqa: ANN001
    if not can(user, Can.VIEW_REGISTRY):
        return Building.objects.none()
    return Building.objects.filter(grid_scope_q(user))


def building_for_user(user, building_id: int) -> Building:  # noqa: ANN001
    building = buildings_for_user(user).select_related("grid").filter(pk=building_id).first()
    if building is None:
        raise Http404
    return building


def households_for_user(user) -> QuerySet[Household]:  # noqa: ANN001
    if not can(user, Can.VIEW_REGISTRY):
        return Household.objects.none()
    return Household.objects.filter(grid_scope_q(user))


def household_for_user(user, household_id: int) -> Household:  # noqa: ANN001
    """The access gate for households: 404 unless it lies in the user's area."""
    household = (households_for_user(user).select_related("building", "grid", "community")
                 .filter(pk=household_id).first())
    if household is None:
        raise Http404
    return household


def buildings_under(user, area: Area, *, after: int | None = None,  # noqa: ANN001
                    limit: int = 100) -> tuple[list[Building], int | None]:
    """One page of the user's buildings under `area` (by id) and the next page's `after`."""
    qs = buildings_for_user(user).filter(area.scoped_rows_q())
    if after is not None:
        qs = qs.filter(pk__gt=after)
    rows = list(qs.order_by("pk")[: limit + 1])
    return rows[:limit], (rows[limit - 1].pk if len(rows) > limit else None)
