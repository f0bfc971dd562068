"""Request and response bodies of the JSON API.

Output schemas carry masked personal data only (`phone_masked`, `id_number_masked`):
never the sealed bytes, never a blind index. Input and output schemas are separate.
Choice fields take the model's TextChoices values; the allowed values are documented in
the OpenAPI schema but checked by the services, so a wrong value is a 400 with a
translated message. Every input string has a length limit and refuses control characters
and unencodable text (a 422): an oversized or garbled body never reaches the services.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from django.db.models import TextChoices
from ninja import Field, Schema
from pydantic import AfterValidator, StringConstraints, WithJsonSchema
from pydantic_core import PydanticCustomError

from fangkong.lib.text import find_unsafe_char
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
    """422: the request did not have the declared shape (ninja's own validation).
    `detail` is pydantic's list in English, for programs; `errors` maps each input field
    (or `__all__`) to messages for a person, in the request's language (Chinese by
    default), like the 400 body."""

    detail: list[RequestErrorItem]
    errors: dict[str, list[str]]


ERROR_SCHEMAS: dict[int, type[Schema]] = {
    400: FieldErrors, 401: Error, 403: Error, 404: Error, 422: RequestErrors,
}


def errors(*codes: int) -> dict[int, type[Schema]]:
    """The error responses an endpoint can return, for its `response=` declaration."""
    return {code: ERROR_SCHEMAS[code] for code in codes}


# Input text ------------------------------------------------------------------------------

UNSAFE_TEXT = "unsafe_text"
"""The pydantic error type of text with a control character or a lone surrogate."""
CHOICE_MAX = 16  # longest value of a choice field, with room to spare
TAGS_MAX = 20  # tags of one resident


def _refuse_unsafe(value: str, *, multiline: bool) -> str:
    position = find_unsafe_char(value, multiline=multiline)
    if position is not None:
        raise PydanticCustomError(
            UNSAFE_TEXT,
            "Text has a control character or an invalid character at position {position}",
            {"position": position + 1},
        )
    return value


def _single_line(value: str) -> str:
    return _refuse_unsafe(value, multiline=False)


def _multi_line(value: str) -> str:
    # A textarea sends CRLF; store plain line feeds.
    return _refuse_unsafe(value.replace("\r\n", "\n"), multiline=True)


def clean_str(max_length: int, *, multiline: bool = False) -> Any:
    """An input string of at most `max_length` characters without control characters
    (with `multiline`, tab and line feed are allowed and CRLF becomes a line feed) and
    without lone surrogates, refused with the error type `unsafe_text`. The length is
    checked first, so a huge value is refused without being scanned."""
    check = _multi_line if multiline else _single_line
    return Annotated[str, StringConstraints(max_length=max_length), AfterValidator(check)]


def _choice(choices: type[TextChoices], *, blank: bool = False) -> Any:
    values = [*choices.values, *([""] if blank else [])]
    schema = {"type": "string", "enum": values, "maxLength": CHOICE_MAX}
    return Annotated[clean_str(CHOICE_MAX), WithJsonSchema(schema)]


NameText = clean_str(64)
IdNumberText = clean_str(40)
PhoneText = clean_str(40)
LanguageNoteText = clean_str(64)
RemarksText = clean_str(1000, multiline=True)
TagSlug = clean_str(32)
TagSlugs = Annotated[list[TagSlug], Field(max_length=TAGS_MAX)]
SearchText = clean_str(100)

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
    name: NameText
    gender: GenderValue = ""
    birth_date: date | None = None
    id_number: IdNumberText = ""
    phone: PhoneText = ""
    relation: RelationValue = Relation.SELF.value
    tags: TagSlugs = Field(default_factory=list, description="Tag slugs.")
    preferred_channel: ChannelValue = ""
    language_note: LanguageNoteText = ""
    remarks: RemarksText = ""
    status: StatusValue = ResidentStatus.ACTIVE.value


class ResidentPatch(Schema):
    """A change. Omitted or null fields stay as they are; "" clears `id_number`, `phone`,
    `preferred_channel`, `language_note` and `remarks`; `tags` replaces the whole set."""

    version: int = Field(ge=1, description="The `version` the change is based on; an edit "
                                           "of an outdated version is refused (400).")
    household_id: int | None = None
    name: NameText | None = None
    gender: GenderValue | None = None
    birth_date: date | None = None
    id_number: IdNumberText | None = None
    phone: PhoneText | None = None
    relation: RelationValue | None = None
    tags: TagSlugs | None = Field(None, description="Tag slugs.")
    preferred_channel: ChannelValue | None = None
    language_note: LanguageNoteText | None = None
    remarks: RemarksText | None = None
    status: StatusValue | None = None


class RevealIn(Schema):
    what: Literal["phone", "id_number"]


class RevealOut(Schema):
    value: str = Field(description="The clear value; \"\" when none is recorded.")
