"""Reads of residents, already scoped to the user: the access gate and the search."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import CharField, Q, QuerySet, Value
from django.db.models.functions import Concat
from django.http import Http404
from django.utils.translation import gettext as _

from fangkong.accounts.roles import Can, can
from fangkong.accounts.scope import grid_scope_q
from fangkong.lib.address import parse_room
from fangkong.lib.idcard import IdNumberError, parse_id_number
from fangkong.lib.lookups import by_code_point
from fangkong.lib.phone import PhoneError, parse_phone
from fangkong.lib.text import to_halfwidth
from fangkong.places.models import Household
from fangkong.residents.models import ContactPhone, Resident, ResidentStatus, Tag
from fangkong.residents.personal import id_number_index, phone_index

PAGE_SIZE = 50
SORT_FIELDS = {"name": "name"}
LIST_FIELDS = ("id", "name", "gender", "birth_date", "phone_masked", "id_number_masked",
               "relation", "status", "household_id", "household__label", "grid_id",
               "grid__name", "community__name")


def residents_for_user(user) -> QuerySet[Resident]:  # noqa: ANN001
    """Every resident the user may see (any status)."""
    if not can(user, Can.VIEW_REGISTRY):
        return Resident.objects.none()
    return Resident.objects.filter(grid_scope_q(user))


def resident_for_user(user, resident_id: int) -> Resident:  # noqa: ANN001
    """The access gate for residents: the resident, or 404 when it does not exist or lies
    outside the user's area (never 403, which would confirm that it exists)."""
    resident = (residents_for_user(user)
                .select_related("household", "household__building", "grid", "community",
                                "street", "district")
                .prefetch_related("tags", "proxies", "other_phones")
                .filter(pk=resident_id).first())
    if resident is None:
        raise Http404
    return resident


@dataclass(frozen=True)
class SearchQuery:
    """How a search box entry was understood, shown back to the user."""

    kind: str  # all | name | pinyin (or initials) | last4 | phone | id_number | room
    text: str


def classify(text: str) -> SearchQuery:
    # Control characters (a NUL breaks PostgreSQL) never belong in a search.
    text = "".join(c for c in to_halfwidth(text or "") if c.isprintable()).strip()
    if not text:
        return SearchQuery("all", "")
    compact = re.sub(r"[\s\-]", "", text)
    if re.fullmatch(r"\d{4}", compact):
        return SearchQuery("last4", compact)
    if re.fullmatch(r"(\+?86)?1\d{10}", compact) or re.fullmatch(r"0\d{9,11}", compact):
        return SearchQuery("phone", text)
    if re.fullmatch(r"\d{17}[\dxX]|\d{15}", compact):
        return SearchQuery("id_number", compact)
    if parse_room(text) is not None:
        return SearchQuery("room", text)
    if re.fullmatch(r"[A-Za-z]{1,24}", compact):
        # Pinyin ("wang", "zhangw") or initials ("zw", and "zag" for 张爱国): both.
        return SearchQuery("pinyin", compact.lower())
    return SearchQuery("name", " ".join(text.split()))


def resident_search(user, text: str, *, after: int | None = None,  # noqa: ANN001
                    include_inactive: bool = False, limit: int = PAGE_SIZE,
                    ) -> tuple[SearchQuery, list[Resident], int | None]:
    """Search the user's residents by name, pinyin initials, last 4 phone digits, full
    phone, ID number or room ("3-2-501"). Keyset-paginated (by name for name-like
    searches, else by id): returns the query as understood, one page of rows, and the
    `after` value (a resident id) of the next page, or None."""
    limit = max(1, limit)
    query = classify(text)
    qs = residents_for_user(user)
    if not include_inactive:
        qs = qs.filter(status=ResidentStatus.ACTIVE)
    visible = qs
    if query.kind == "last4":
        # A four-digit entry may also be a room number (1201). The three matches are read
        # as id lists, each through its own index, and the page is cut from their union:
        # an OR in one statement lets a planner walk the whole table in id order instead.
        matches = set(qs.filter(phone_last4=query.text).values_list("pk", flat=True))
        matches.update(qs.filter(pk__in=ContactPhone.objects.filter(
            last4=query.text).values("resident_id")).values_list("pk", flat=True))
        matches.update(qs.filter(household_id__in=Household.objects.filter(
            room=query.text).values("pk")).values_list("pk", flat=True))
        page = sorted(pk for pk in matches if after is None or pk > after)[: limit + 1]
        qs = qs.filter(pk__in=page)
    elif query.kind == "phone":
        try:
            number = parse_phone(query.text).number
        except PhoneError:
            qs = qs.none()
        else:
            index = phone_index(number)
            others = ContactPhone.objects.filter(index=index).values("resident_id")
            qs = qs.filter(Q(phone_index=index) | Q(pk__in=others))
    elif query.kind == "id_number":
        try:
            qs = qs.filter(id_number_index=id_number_index(parse_id_number(query.text).number))
        except IdNumberError:
            qs = qs.none()
    elif query.kind == "room":
        ref = parse_room(query.text)
        assert ref is not None
        room_q = Q(household__building__number=ref.building)
        if ref.unit is not None:
            room_q &= Q(household__unit=ref.unit)
        if ref.room is not None:
            room_q &= Q(household__room=ref.room)
        qs = qs.filter(room_q)
    elif query.kind == "pinyin":
        return query, *_pinyin_page(qs, query.text, after=after, limit=limit)
    elif query.kind == "name":
        qs = qs.filter(name__prefix=query.text)
    # Name-like searches come in the order of their prefix index, so that the first page
    # of a common surname at a million residents reads 51 index entries, not 70,000 rows.
    sort_field = SORT_FIELDS.get(query.kind)
    if sort_field is None:
        if after is not None:
            qs = qs.filter(pk__gt=after)
        qs = qs.order_by("pk")
    else:
        qs = _after(qs, sort_field, after, visible)
    rows = _page_rows(qs, limit)
    next_after = rows[limit - 1].pk if len(rows) > limit else None
    return query, rows[:limit], next_after


def _after(qs: QuerySet[Resident], sort_field: str, after: int | None,
           visible: QuerySet[Resident], *, ordered_by_index: bool = True) -> QuerySet[Resident]:
    """Order by `sort_field` (code point order, as its prefix index) then id, resuming after
    resident `after`. The cursor is looked up among the residents the user may see
    (`visible`): a cursor outside them gives an empty page, never a hint about someone
    else's name."""
    key = by_code_point(sort_field)
    if not ordered_by_index:
        # The same order, but as an expression no index provides: the planner then finds
        # the rows through the filter's own index and sorts the few it found, instead of
        # walking the whole sort index looking for them.
        key = by_code_point(Concat(sort_field, Value(""), output_field=CharField()))
    qs = qs.annotate(sort_key=key).order_by("sort_key", "pk")
    if after is None:
        return qs
    last = visible.filter(pk=after).values_list(sort_field, flat=True).first()
    if last is None:
        return qs.none()
    return qs.filter(Q(sort_key__gt=last) | Q(sort_key=last, pk__gt=after))


def _page_rows(qs: QuerySet[Resident], limit: int) -> list[Resident]:
    return list(qs.select_related("household", "grid").only(
        "id", "name", "name_pinyin", "gender", "birth_date", "phone_masked",
        "id_number_masked", "relation", "status", "household__label", "household__id",
        "grid__name", "grid__id",
    )[: limit + 1])


def _pinyin_page(qs: QuerySet[Resident], letters: str, *, after: int | None,
                 limit: int) -> tuple[list[Resident], int | None]:
    """Residents whose full pinyin or whose initials start with `letters`, in pinyin
    order. Two queries, each served by its own index, merged here: an OR in one statement
    would sort every match of a short prefix."""
    by_pinyin = _page_rows(_after(qs.filter(name_pinyin__prefix=letters), "name_pinyin",
                                  after, qs), limit)
    rows = {r.pk: r for r in by_pinyin}
    if len(letters) > 1:  # one letter: initials and pinyin prefixes are the same rows
        by_initials = _page_rows(_after(qs.filter(name_initials__prefix=letters),
                                        "name_pinyin", after, qs, ordered_by_index=False),
                                 limit)
        rows.update((r.pk, r) for r in by_initials)
    merged = sorted(rows.values(), key=lambda r: (r.name_pinyin.encode(), r.pk))[: limit + 1]
    next_after = merged[limit - 1].pk if len(merged) > limit else None
    return merged[:limit], next_after


def tags_by_slug(slugs: list[str]) -> list[Tag]:
    """The tags named by `slugs`; a ValidationError names every unknown slug."""
    wanted = list(dict.fromkeys(slug.strip() for slug in slugs))
    tags = list(Tag.objects.filter(slug__in=wanted))
    known = {tag.slug for tag in tags}
    missing = [slug for slug in wanted if slug not in known]
    if missing:
        raise ValidationError({"tags": [
            _("There is no tag “%(slug)s”; use the slug of an existing tag.") % {"slug": slug}
            for slug in missing]})
    return tags
