"""The caller, the area tree with its figures, and the buildings of an area."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router

from fangkong.accounts.models import Role
from fangkong.accounts.roles import Can, can
from fangkong.api.auth import actor, require_registry
from fangkong.api.schemas import AreaList, AreaOut, BuildingPage, MeOut, errors
from fangkong.places.models import Area
from fangkong.places.selectors import area_children, area_for_user, buildings_under, home_area

router = Router(tags=["areas"])

BUILDING_PAGE = 100


@router.get("/me", response={200: MeOut, **errors(401)})
def me(request: HttpRequest) -> dict[str, Any]:
    """The caller: role, home area and what the role may do."""
    user = actor(request)
    area = home_area(user)
    return {
        "id": user.pk,
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role,
        "role_label": str(Role(user.role).label) if user.role else "",
        "is_superuser": user.is_superuser,
        "area": area,
        "capabilities": [c.value for c in Can if can(user, c)],
    }


@router.get("/areas/{area_id}", response={200: AreaOut, **errors(401, 403, 404, 422)})
def area_detail(request: HttpRequest, area_id: int) -> Area:
    """An area in the caller's subtree, with the figures of everything below it."""
    user = actor(request)
    require_registry(user)
    return area_for_user(user, area_id)


@router.get("/areas/{area_id}/children",
            response={200: AreaList, **errors(401, 403, 404, 422)})
def area_child_list(request: HttpRequest, area_id: int) -> dict[str, Any]:
    """The areas one level down, with their figures."""
    user = actor(request)
    require_registry(user)
    area = area_for_user(user, area_id)
    return {"items": [child for child, _stats in area_children(area)]}


@router.get("/areas/{area_id}/buildings",
            response={200: BuildingPage, **errors(401, 403, 404, 422)})
def area_building_list(request: HttpRequest, area_id: int,
                       after: int | None = None,
                       limit: int = Query(BUILDING_PAGE, ge=1, le=500)) -> dict[str, Any]:
    """The buildings under an area, by id; keyset-paginated like the resident search."""
    user = actor(request)
    require_registry(user)
    area = area_for_user(user, area_id)
    rows, next_after = buildings_under(user, area, after=after, limit=limit)
    return {"items": rows, "next_after": next_after}
