"""The test city and its personas: built once per test session from the synthetic city
generator (deterministic), so every test sees the same areas and residents."""

from __future__ import annotations

from dataclasses import dataclass

from fangkong.accounts.models import Role, User
from fangkong.accounts.services import staff_create
from fangkong.places.models import Area, AreaKind
from fangkong.residents.models import Resident
from fangkong.synth.city import CitySpec
from fangkong.synth.load import load_city

SPEC = CitySpec(residents=1200, seed=7, streets=2, communities=4, districts=1)
PASSWORD = "correct horse battery staple"

# persona -> (role, which area: the first of its kind, or "other" for the second)
PERSONAS = {
    "admin": (Role.ADMIN, AreaKind.DISTRICT, 0),
    "street_officer": (Role.STREET_OFFICER, AreaKind.STREET, 0),
    "community_secretary": (Role.COMMUNITY_SECRETARY, AreaKind.COMMUNITY, 0),
    "community_worker": (Role.COMMUNITY_WORKER, AreaKind.COMMUNITY, 0),
    "grid_worker": (Role.GRID_WORKER, AreaKind.GRID, 0),
    "gate_guard": (Role.GATE_GUARD, AreaKind.COMMUNITY, 0),
    "volunteer": (Role.VOLUNTEER, AreaKind.COMMUNITY, 0),
    "other_grid_worker": (Role.GRID_WORKER, AreaKind.GRID, 1),
    "other_street_officer": (Role.STREET_OFFICER, AreaKind.STREET, 1),
}


def build_city() -> None:
    load_city(SPEC)
    for username, (role, kind, nth) in PERSONAS.items():
        area = Area.objects.filter(kind=kind).order_by("path")[nth]
        staff_create(username=username, password=PASSWORD, role=role, area=area,
                     full_name=username.replace("_", " ").title(), check_password=False)


@dataclass
class City:
    root: Area

    @classmethod
    def get(cls) -> City:
        return cls(root=Area.objects.get(kind=AreaKind.CITY))

    def persona(self, name: str) -> User:
        return User.objects.select_related("area").get(username=name)

    def areas(self, kind: str) -> list[Area]:
        return list(Area.objects.filter(kind=kind).order_by("path"))

    def resident_in(self, area: Area) -> Resident:
        """A resident with a phone and an ID number inside `area`."""
        field = f"{area.kind}_id" if area.kind != AreaKind.CITY else "district__parent_id"
        return (Resident.objects.filter(**{field: area.pk}, phone_index__isnull=False,
                                        id_number_index__isnull=False).order_by("pk").first())

    def resident_outside(self, area: Area) -> Resident:
        field = f"{area.kind}_id"
        return (Resident.objects.exclude(**{field: area.pk}).filter(phone_index__isnull=False)
                .order_by("pk").first())


def field_messages(excinfo) -> dict[str, str]:  # noqa: ANN001 - pytest.ExceptionInfo
    """A service's ValidationError as {field: all its messages in one string}."""
    return {field: " ".join(msgs) for field, msgs in excinfo.value.message_dict.items()}
