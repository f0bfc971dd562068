"""Home page and the area tree: district > street > community > grid > building > household."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from fangkong.accounts.roles import Can, can
from fangkong.audit.services import client_ip
from fangkong.places.forms import HouseholdForm
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
from fangkong.places.services import household_create
from fangkong.residents.forms import apply_errors
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
@require_http_methods(["GET", "POST"])
def building_detail(request: HttpRequest, building_id: int) -> HttpResponse:
    building = building_for_user(request.user, building_id)
    can_edit = can(request.user, Can.EDIT_RESIDENTS)
    form = HouseholdForm(request.POST or None)
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied
        if form.is_valid():
            try:
                household = household_create(
                    by=request.user, building=building, unit=form.cleaned_data["unit"],
                    room=form.cleaned_data["room"], ip=client_ip(request))
            except ValidationError as exc:
                apply_errors(form, exc.message_dict)
            else:
                messages.success(request, _("Added household %(label)s.")
                                 % {"label": household.label})
                return redirect("places:household", household_id=household.pk)
    households = list(
        households_for_user(request.user).filter(building=building)
        .annotate(n_residents=Count("residents", filter=Q(
            residents__status=ResidentStatus.ACTIVE)))
        .order_by("unit", "room"))
    households.sort(key=lambda h: (h.unit, len(h.room), h.room))  # 201 before 1001
    units: dict[int, list] = {}
    for household in households:
        units.setdefault(household.unit, []).append(household)
    return render(request, "places/building.html", {
        "building": building, "units": sorted(units.items()), "form": form,
        "can_edit": can_edit,
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
