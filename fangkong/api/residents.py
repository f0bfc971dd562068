"""Residents: search, read, register, change, and reveal a phone or ID number (audited).

Every endpoint goes: role gate (403 for roles without the registry), access gate (404
outside the caller's area), one service call (403 when the role may see but not do it,
400 when the input is refused).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.views.decorators.cache import never_cache
from ninja import Query, Router, Status
from ninja.decorators import decorate_view

from fangkong.accounts.models import User
from fangkong.api.auth import actor, require_registry
from fangkong.api.schemas import (
    ResidentIn,
    ResidentOut,
    ResidentPage,
    ResidentPatch,
    RevealIn,
    RevealOut,
    SearchText,
    errors,
)
from fangkong.audit.services import client_ip
from fangkong.places.selectors import household_for_user
from fangkong.residents import services
from fangkong.residents.models import Resident
from fangkong.residents.selectors import (
    PAGE_SIZE,
    resident_for_user,
    resident_search,
    tags_by_slug,
)

router = Router(tags=["residents"])


@router.get("/residents", response={200: ResidentPage, **errors(401, 403, 422)})
def resident_list(request: HttpRequest, q: SearchText = "",
                  after: int | None = None, limit: int = Query(PAGE_SIZE, ge=1, le=200),
                  include_inactive: bool = False) -> dict[str, Any]:
    """Search the caller's residents by name, pinyin initials, last four phone digits,
    full phone, ID number or room ("3-2-501"); an empty `q` lists them all. Ordered by
    id; pass `next_after` back as `after` for the next page."""
    user = actor(request)
    require_registry(user)
    query, rows, next_after = resident_search(user, q, after=after, limit=limit,
                                              include_inactive=include_inactive)
    return {"query_kind": query.kind, "query_text": query.text, "items": rows,
            "next_after": next_after}


@router.get("/residents/{resident_id}", response={200: ResidentOut, **errors(401, 403, 404, 422)})
def resident_detail(request: HttpRequest, resident_id: int) -> Resident:
    user = actor(request)
    require_registry(user)
    return resident_for_user(user, resident_id)


@router.post("/residents", response={201: ResidentOut, **errors(400, 401, 403, 404, 422)})
def resident_add(request: HttpRequest, payload: ResidentIn) -> Status[Resident]:
    """Register a resident in a household of the caller's area (404 otherwise). Audited."""
    user = actor(request)
    require_registry(user)
    data = _resident_input(user, payload)
    resident = services.resident_create(by=user, data=data, ip=client_ip(request))
    return Status(201, resident_for_user(user, resident.pk))


@router.patch("/residents/{resident_id}",
              response={200: ResidentOut, **errors(400, 401, 403, 404, 422)})
def resident_change(request: HttpRequest, resident_id: int, payload: ResidentPatch) -> Resident:
    """Change a resident. Refused (400, `__all__`) when `version` is not the current one,
    i.e. someone else saved a change since the caller read it. Audited."""
    user = actor(request)
    require_registry(user)
    resident = resident_for_user(user, resident_id)
    data = _resident_input(user, payload)
    services.resident_update(by=user, resident=resident, data=data, version=payload.version,
                             ip=client_ip(request))
    return resident_for_user(user, resident_id)


@router.post("/residents/{resident_id}/reveal",
             response={200: RevealOut, **errors(401, 403, 404, 422)})
@decorate_view(never_cache)
def resident_unmask(request: HttpRequest, resident_id: int, payload: RevealIn) -> dict[str, str]:
    """The clear phone or ID number. Needs the role's permission (403); every reveal is
    written to the audit log with the caller and their address. Never cached."""
    user = actor(request)
    require_registry(user)
    resident = resident_for_user(user, resident_id)
    value = services.resident_reveal(by=user, resident=resident, what=payload.what,
                                     ip=client_ip(request))
    return {"value": value}


def _resident_input(user: User, payload: ResidentIn | ResidentPatch) -> services.ResidentInput:
    """The service's input from a request body: the household through its access gate,
    tags by slug. `None` (absent in a patch) leaves a field as it is."""
    fields = payload.dict(exclude={"household_id", "tags", "version"})
    household = (household_for_user(user, payload.household_id)
                 if payload.household_id is not None else None)
    tags = tags_by_slug(payload.tags) if payload.tags is not None else None
    return services.ResidentInput(**fields, household=household, tags=tags)
