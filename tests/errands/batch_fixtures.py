"""Helpers of the batching tests (shopping lists, garbage rounds): residents of distinct
households, medicine and grocery requests with lines, garbage services. Plain functions,
so that the errand tests' conftest stays the one place for shared fixtures."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from fangkong.accounts.models import User
from fangkong.errands import services
from fangkong.errands.models import Errand, GarbageService
from fangkong.errands.services import ErrandInput, ItemInput
from fangkong.places.models import Area
from fangkong.residents.models import Resident, ResidentStatus

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI)  # a Tuesday morning
TODAY = NOW.date()


def residents_of_households(area: Area, n: int) -> list[Resident]:
    """One active resident from each of `n` households of `area`, newest household first
    (so not in walking order)."""
    field = f"{area.kind}_id"
    chosen: dict[int, Resident] = {}
    for resident in (Resident.objects.filter(**{field: area.pk}, status=ResidentStatus.ACTIVE)
                     .select_related("household").order_by("-household_id", "pk")):
        chosen.setdefault(resident.household_id, resident)
        if len(chosen) == n:
            break
    assert len(chosen) == n, f"only {len(chosen)} households in {area}"
    return list(chosen.values())


def line(name: str, quantity: int = 1, *, strength: str = "", unit: str = "盒",
         rx: bool = False) -> ItemInput:
    return ItemInput(name=name, quantity=quantity, strength=strength, unit=unit,
                     prescription=rx)


def ask(resident: Resident, by: User, *lines: ItemInput, kind: str = "medicine",
        supplier: str = "", urgency: str = "normal") -> Errand:
    """A request asked by phone by the worker `by` for `resident`."""
    return services.errand_create(
        resident=resident, source="phone", by=by,
        data=ErrandInput(kind=kind, items=list(lines) or [line("布洛芬")], supplier=supplier,
                         urgency=urgency))


def garbage_for(resident: Resident, by: User) -> GarbageService:
    """The resident's household's garbage collected daily from today (a garbage errand)."""
    errand = services.errand_create(resident=resident, source="phone", by=by,
                                    data=ErrandInput(kind="garbage"))
    return GarbageService.objects.get(errand=errand)


def residents_of_buildings(area: Area, *, buildings: int = 2, each: int = 2) -> list[Resident]:
    """`each` residents of distinct households in each of the first `buildings` buildings
    of `area` that have that many, building by building."""
    field = f"{area.kind}_id"
    chosen: dict[int, dict[int, Resident]] = {}
    for resident in (Resident.objects.filter(**{field: area.pk}, status=ResidentStatus.ACTIVE)
                     .select_related("household").order_by("-household_id", "pk")):
        homes = chosen.setdefault(resident.household.building_id, {})
        if len(homes) < each:
            homes.setdefault(resident.household_id, resident)
    full = [list(homes.values()) for homes in chosen.values() if len(homes) == each]
    assert len(full) >= buildings, f"fewer than {buildings} buildings in {area}"
    return [resident for homes in full[:buildings] for resident in homes]
