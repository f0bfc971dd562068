"""Home page and the area tree: district > street > community > grid > building > household."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from fangkong.accounts.roles import Can, can
from fangkong.places.models import AreaKind, AreaStats
from fangkong.places.selectors import (
    area_breadcrumbs,
    area_children,
    area_for_user,
    building_for_user,
    buildings_for_user,
    home_area,
    household_for_user,
    households_for_user,
)
from fangkong.residents.models import ResidentStatus, Tag
from fangkong.residents.selectors import residents_for_user


def _tag_figures(stats: AreaStats | None) -> list[tuple[Tag, int]]:
    by_tag = stats.by_tag if stats else {}
    return [(tag, by_tag.get(tag.slug, 0)) for tag in Tag.objects.all()]


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not can(user, Can.VIEW_REGISTRY):
        return render(request, "places/home_limited.html", {})
    area = home_area(user)
    if area is None:
        return render(request, "places/home_limited.html", {})
    return _area_page(request, area, is_home=True)


@login_required
@require_GET
def area_detail(request: HttpRequest, area_id: int) -> HttpResponse:
    area = area_for_user(request.user, area_id)
    return _area_page(request, area, is_home=False)


def _area_page(request: HttpRequest, area, *, is_home: bool) -> HttpResponse:  # noqa: ANN001
    stats = AreaStats.objects.filter(area=area).first()
    context = {
        "area": area,
        "stats": stats,
        "tag_figures": _tag_figures(stats),
        "breadcrumbs": area_breadcrumbs(request.user, area),
        "is_home": is_home,
        "children": area_children(area) if area.kind != AreaKind.GRID else [],
        "buildings": [],
    }
    if area.kind == AreaKind.GRID:
        context["buildings"] = list(
            buildings_for_user(request.user).filter(grid=area)
            .annotate(n_households=Count("households", distinct=True))
            .order_by("estate", "number"))
    return render(request, "places/area.html", context)


@login_required
@require_GET
def building_detail(request: HttpRequest, building_id: int) -> HttpResponse:
    building = building_for_user(request.user, building_id)
    households = list(
        households_for_user(request.user).filter(building=building)
        .annotate(n_residents=Count("residents", filter=Q(
            residents__status=ResidentStatus.ACTIVE)))
        .order_by("unit", "room"))
    units: dict[int, list] = {}
    for household in households:
        units.setdefault(household.unit, []).append(household)
    return render(request, "places/building.html", {
        "building": building, "units": sorted(units.items()),
        "breadcrumbs": area_breadcrumbs(request.user, building.grid),
    })


@login_required
@require_GET
def household_detail(request: HttpRequest, household_id: int) -> HttpResponse:
    household = household_for_user(request.user, household_id)
    members = list(residents_for_user(request.user).filter(household=household)
                   .prefetch_related("tags").order_by("status", "pk"))
    return render(request, "places/household.html", {
        "household": household, "members": members,
        "breadcrumbs": area_breadcrumbs(request.user, household.grid),
        "can_edit": can(request.user, Can.EDIT_RESIDENTS),
    })
