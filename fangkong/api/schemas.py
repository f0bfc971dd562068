"""Request and response bodies of the JSON API.

Output schemas carry masked personal data only (`phone_masked`, `id_number_masked`):
never the sealed bytes, never a blind index. Input and output schemas are separate.
Choice fields take the model's TextChoices values; the allowed values are documented in
the OpenAPI schema but checked by the services, so a wrong value is a 400 with a
translated message rather than a 422 in pydantic's English.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from django.db.models import TextChoices
from ninja import Field, Schema
from pydantic import WithJsonSchema

from fangkong.residents.models import Channel, Gender, Relation, ResidentStatus

# Errors ------------------------------------------------------------------------------


class Error(Schema):
    """401, 403, 404: one message."""

    detail: str


class FieldErrors(Schema):
    """400: the input was understood but refused. `errors` maps each input field (or
    `__all__` for the whole request, e.g. an edit based on an outdated version) to its
    messages, in the request's language (Chinese by default); `detail` joins them."""

    detail: str
    errors: dict[str, list[str]]


class RequestErrorItem(Schema):
    type: str
    loc: list[str | int]
    msg: str
    ctx: dict[str, Any] | None = None


class RequestErrors(Schema):
    """422: the request did not have the declared shape (ninja's own validation)."""

    detail: list[RequestErrorItem]


ERROR_SCHEMAS: dict[int, type[Schema]] = {
    400: FieldErrors, 401: Error, 403: Error, 404: Error, 422: RequestErrors,
}


def errors(*codes: int) -> dict[int, type[Schema]]:
    """The error responses an endpoint can return, for its `response=` declaration."""
    return {code: ERROR_SCHEMAS[code] for code in codes}


def _choice(choices: type[TextChoices], *, blank: bool = False) -> Any:
    values = [*choices.values, *([""] if blank else [])]
    return Annotated[str, WithJsonSchema({"type": "string", "enum": values})]


GenderValue = _choice(Gender, blank=True)
RelationValue = _choice(Relation)
ChannelValue = _choice(Channel, blank=True)
StatusValue = _choice(ResidentStatus)

# Areas and the caller ----------------------------------------------------------------


class AreaRef(Schema):
    id: int
    kind: str
    name: str


class AreaStatsOut(Schema):
    residents: int
    households: int
    buildings: int
    elderly: int  # aged 65 or over
    by_tag: dict[str, int]  # tag slug -> residents with that tag
    refreshed_at: datetime | None


class AreaOut(Schema):
    id: int
    kind: str
    name: str
    code: str
    path: str
    depth: int
    parent_id: int | None
    stats: AreaStatsOut | None

    @staticmethod
    def resolve_stats(obj: Any) -> Any:
        return getattr(obj, "stats", None)


class AreaList(Schema):
    items: list[AreaOut]


class MeOut(Schema):
    id: int
    username: str
    display_name: str
    role: str
    role_label: str
    is_superuser: bool
    area: AreaRef | None
    capabilities: list[str]


# Buildings and households -------------------------------------------------------------


class BuildingOut(Schema):
    id: int
    number: int
    name: str
    estate: str
    address: str
    floors: int | None
    units: int
    grid_id: int


class BuildingPage(Schema):
    items: list[BuildingOut]
    next_after: int | None


class HouseholdListItem(Schema):
    id: int
    label: str
    unit: int
    room: str
    residents: int  # living here now

    @staticmethod
    def resolve_residents(obj: Any) -> int:
        return obj.active_residents


class BuildingHouseholds(Schema):
    building: BuildingOut
    items: list[HouseholdListItem]


class HouseholdMember(Schema):
    id: int
    name: str
    gender: str
    birth_date: date | None
    relation: str
    status: str
    phone_masked: str
    id_number_masked: str


class HouseholdOut(Schema):
    id: int
    label: str
    unit: int
    room: str
    remarks: str
    building: BuildingOut
    grid: AreaRef
    community: AreaRef
    residents: list[HouseholdMember]


# Residents -----------------------------------------------------------------------------


class TagOut(Schema):
    slug: str
    name: str


class HouseholdRef(Schema):
    id: int
    label: str
    building_id: int
    unit: int
    room: str


class ProxyOut(Schema):
    id: int
    name: str
    relation: str
    phone_masked: str
    proxy_resident_id: int | None


class OtherPhoneOut(Schema):
    id: int
    label: str
    phone_masked: str
    kind: str

    @staticmethod
    def resolve_phone_masked(obj: Any) -> str:
        return obj.masked


class ResidentOut(Schema):
    id: int
    version: int
    name: str
    gender: str
    birth_date: date | None
    relation: str
    status: str
    phone_masked: str
    phone_kind: str
    id_number_masked: str
    household: HouseholdRef
    grid: AreaRef
    community: AreaRef
    tags: list[TagOut]
    preferred_channel: str
    language_note: str
    remarks: str
    proxies: list[ProxyOut]
    other_phones: list[OtherPhoneOut]
    created_at: datetime
    updated_at: datetime


class ResidentListItem(Schema):
    """A search result; only the columns `resident_search` loads."""

    id: int
    name: str
    gender: str
    birth_date: date | None
    relation: str
    status: str
    phone_masked: str
    id_number_masked: str
    household_id: int
    household_label: str
    grid_id: int
    grid_name: str

    @staticmethod
    def resolve_household_label(obj: Any) -> str:
        return obj.household.label

    @staticmethod
    def resolve_grid_name(obj: Any) -> str:
        return obj.grid.name


class ResidentPage(Schema):
    query_kind: str = Field(
        description="How `q` was understood: all, name, initials, last4, phone, id_number "
                    "or room.")
    query_text: str
    items: list[ResidentListItem]
    next_after: int | None = Field(description="Pass as `after` for the next page.")


class ResidentIn(Schema):
    """A new resident. Gender and birth date follow from the ID number when one is given
    (a contradicting value is refused)."""

    household_id: int
    name: str
    gender: GenderValue = ""
    birth_date: date | None = None
    id_number: str = ""
    phone: str = ""
    relation: RelationValue = Relation.SELF.value
    tags: list[str] = Field(default_factory=list, description="Tag slugs.")
    preferred_channel: ChannelValue = ""
    language_note: str = ""
    remarks: str = ""
    status: StatusValue = ResidentStatus.ACTIVE.value


class ResidentPatch(Schema):
    """A change. Omitted or null fields stay as they are; "" clears `id_number`, `phone`,
    `preferred_channel`, `language_note` and `remarks`; `tags` replaces the whole set."""

    version: int = Field(ge=1, description="The `version` the change is based on; an edit "
                                           "of an outdated version is refused (400).")
    household_id: int | None = None
    name: str | None = None
    gender: GenderValue | None = None
    birth_date: date | None = None
    id_number: str | None = None
    phone: str | None = None
    relation: RelationValue | None = None
    tags: list[str] | None = None
    preferred_channel: ChannelValue | None = None
    language_note: str | None = None
    remarks: str | None = None
    status: StatusValue | None = None


class RevealIn(Schema):
    what: Literal["phone", "id_number"]


class RevealOut(Schema):
    value: str = Field(description="The clear value; \"\" when none is recorded.")
