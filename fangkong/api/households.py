"""Households with their residents (masked), and the households of a building."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q
from django.http import HttpRequest
from ninja import Router

from fangkong.api.auth import actor, require_registry
from fangkong.api.schemas import BuildingHouseholds, HouseholdOut, errors
from fangkong.places.selectors import building_for_user, household_for_user, households_for_user
from fangkong.residents.models import ResidentStatus
from fangkong.residents.selectors import residents_for_user

router = Router(tags=["households"])


@router.get("/households/{household_id}",
            response={200: HouseholdOut, **errors(401, 403, 404, 422)})
def household_detail(request: HttpRequest, household_id: int) -> dict[str, Any]:
    """A household and everyone registered in it (any status), personal data masked."""
    user = actor(request)
    require_registry(user)
    household = household_for_user(user, household_id)
    members = residents_for_user(user).filter(household=household).order_by("pk")
    return {**_household_fields(household), "residents": list(members)}


@router.get("/buildings/{building_id}/households",
            response={200: BuildingHouseholds, **errors(401, 403, 404, 422)})
def building_household_list(request: HttpRequest, building_id: int) -> dict[str, Any]:
    """The households of a building, by unit and room, with how many live there now."""
    user = actor(request)
    require_registry(user)
    building = building_for_user(user, building_id)
    households = (households_for_user(user).filter(building=building)
                  .annotate(active_residents=Count(
                      "residents", filter=Q(residents__status=ResidentStatus.ACTIVE)))
                  .order_by("unit", "room", "pk"))
    return {"building": building, "items": list(households)}


def _household_fields(household: Any) -> dict[str, Any]:
    return {"id": household.pk, "label": household.label, "unit": household.unit,
            "room": household.room, "remarks": household.remarks,
            "building": household.building, "grid": household.grid,
            "community": household.community}
