"""Placing the readable rows of a roster in the registry: which building and household,
which resident they are (new, changed, unchanged), and which rows clash.

The result is a plan that the commit applies as it is (staged, sealed) and the counts and
problems the preview shows. Lookups are batched: the dwellings of the target area are
read once, residents are matched on their ID number's blind index in chunks.
"""

from __future__ import annotations

import re
import sqlite3
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db import connection
from django.utils.translation import gettext as _

from fangkong.lib.address import chinese_number
from fangkong.places.models import Area, AreaKind, Building, Household
from fangkong.residents.models import Resident
from fangkong.residents.selectors import residents_for_user
from fangkong.rosters.rows import RowValues

LOOKUP_CHUNK = 2000
# ID numbers looked up per query: one raw query each, so that a million misses (every
# row new) cost a hundred queries, not five hundred ORM ones.
REGISTERED_CHUNK = 10_000
_GRID_NUMBER = re.compile(r"(\d+|[一二两三四五六七八九十]+)")

# Staged row shapes (plain tuples, see staging.py):
#   ("n", row, household_ref, relation, name, initials, pinyin, gender, birth_ordinal,
#    id_sealed, id_index, id_masked, phone_sealed, phone_index, phone_masked, last4,
#    phone_kind, remarks, tags)
#   ("u", row, resident_id, version_seen, changes)
# household_ref: ("h", id) | ("nh", building_ref, unit, room)
# building_ref:  ("b", id) | ("nb", grid_id, estate, number)


@dataclass
class _Seen:
    ids: dict[str, int] = field(default_factory=dict)
    keys: dict[tuple, int] = field(default_factory=dict)
    without_id: dict[tuple, dict] | None = None
    households: set[tuple] = field(default_factory=set)  # new households given a head


@dataclass
class Plan:
    staged: list[tuple] = field(default_factory=list)
    problems: list[tuple[int, str, str, str]] = field(default_factory=list)  # row, col, kind, msg
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("new", "updated", "unchanged", "invalid", "duplicate", "skipped"), 0))
    seen: _Seen = field(default_factory=_Seen)  # what earlier rows of the file were
    elsewhere: int = 0  # rows whose ID number is registered outside the uploader's area


@dataclass
class _Building:
    id: int
    grid_id: int
    estate: str
    number: int


class Placer:
    """Finds the building and household of a row inside the target area."""

    def __init__(self, area: Area) -> None:
        self.area = area
        grids = (list(Area.objects.filter(pk=area.pk)) if area.kind == AreaKind.GRID
                 else list(Area.objects.filter(parent=area, kind=AreaKind.GRID)))
        self.grid_ids = {g.pk for g in grids}
        self.grids_by_name: dict[str, int] = {}
        for grid in grids:
            self.grids_by_name[grid.name.replace(" ", "")] = grid.pk
            number = _GRID_NUMBER.search(grid.name)
            if number and chinese_number(number.group(1)) is not None:
                self.grids_by_name.setdefault(str(chinese_number(number.group(1))), grid.pk)
        self.buildings: dict[int, list[_Building]] = defaultdict(list)
        for b in Building.objects.filter(grid_id__in=self.grid_ids).values_list(
                "pk", "grid_id", "estate", "number"):
            self.buildings[b[3]].append(_Building(*b))
        self._buildings_seen: dict[tuple, tuple] = {}
        self.households: dict[tuple[int, int, str], int] = {}
        self.units: dict[tuple[int, str], list[int]] = defaultdict(list)  # (building, room)
        for pk, b, u, r in Household.objects.filter(grid_id__in=self.grid_ids).values_list(
                "pk", "building_id", "unit", "room"):
            self.households[(b, u, r)] = pk
            self.units[(b, r)].append(u)

    def grid_for(self, name: str) -> int | None:
        key = name.replace(" ", "")
        if key in self.grids_by_name:
            return self.grids_by_name[key]
        number = _GRID_NUMBER.search(key)
        if number:
            value = chinese_number(number.group(1))
            return self.grids_by_name.get(str(value))
        return None

    def place(self, row: RowValues) -> tuple[tuple | None, str | None, str]:
        """(household_ref, None, "") or (None, message, column key)."""
        # Rows of one building follow each other: the building is found once.
        key = (row.grid, row.building, row.estate, row.estate_hint)
        found = self._buildings_seen.get(key)
        if found is None:
            found = self._building(row)
            self._buildings_seen[key] = found
        building_ref, message, column = found
        if building_ref is None:
            return None, message, column
        unit = row.unit
        if building_ref[0] == "b":
            if unit is None:
                # No unit in the file: the room says which, if only one unit has it.
                units = sorted(self.units.get((building_ref[1], row.room), ()))
                if len(units) > 1:
                    return None, _(
                        "Room %(room)s of building %(n)d exists in units %(units)s. Add the "
                        "unit (单元) to the file.") % {
                        "room": row.room, "n": row.building,
                        "units": "、".join(map(str, units))}, "unit"
                unit = units[0] if units else 1
            existing = self.households.get((building_ref[1], unit, row.room))
            if existing is not None:
                return ("h", existing), None, ""
        return ("nh", building_ref, unit or 1, row.room), None, ""

    def _building(self, row: RowValues) -> tuple[tuple | None, str | None, str]:
        """(building_ref, None, "") or (None, message, column key)."""
        grid_id = None
        if row.grid:
            grid_id = self.grid_for(row.grid)
            if grid_id is None:
                return None, _("There is no grid “%(grid)s” in %(area)s.") % {
                    "grid": row.grid, "area": self.area.name}, "grid"
        candidates = [b for b in self.buildings.get(row.building, ())
                      if grid_id is None or b.grid_id == grid_id]
        if row.estate and candidates:
            # An estate column is what the file says: a building elsewhere is not this one.
            same = [b for b in candidates if _same_estate(b.estate, row.estate)]
            if not same:
                estates = "、".join(sorted({b.estate or "—" for b in candidates}))
                return None, _(
                    "Building %(n)d of %(area)s is in estate %(estates)s, not in "
                    "“%(estate)s”. Check the estate (小区) column.") % {
                    "n": row.building, "area": self.area.name, "estates": estates,
                    "estate": row.estate}, "estate"
            candidates = same
        elif row.estate_hint and len(candidates) > 1:
            # An estate read off an address only helps to tell buildings apart.
            candidates = [b for b in candidates if _same_estate(b.estate, row.estate_hint)] \
                or candidates
        if len(candidates) > 1:
            estates = "、".join(sorted({b.estate or "—" for b in candidates}))
            return None, _(
                "There are several buildings numbered %(n)d in %(area)s (estates: "
                "%(estates)s). Add a 小区 (estate) or 网格 (grid) column to say which.") % {
                "n": row.building, "area": self.area.name, "estates": estates}, "building"
        if candidates:
            return ("b", candidates[0].id), None, ""
        if grid_id is None and len(self.grid_ids) == 1:
            grid_id = next(iter(self.grid_ids))
        if grid_id is None:
            return None, _(
                "Building %(n)d is not registered in %(area)s, and fangkong cannot tell "
                "which grid it belongs to. Import into the grid, or add a 网格 (grid) "
                "column.") % {"n": row.building, "area": self.area.name}, "building"
        return ("nb", grid_id, row.estate, row.building), None, ""


def _same_estate(a: str, b: str) -> bool:
    a, b = a.replace(" ", ""), b.replace(" ", "")
    return a == b or (len(a) >= 2 and len(b) >= 2 and (a in b or b in a))


_MATCH_FIELDS = ("pk", "id_number_index", "name", "household_id", "version", "gender",
                 "birth_date", "phone_index", "relation", "remarks", "grid_id")


class Matcher:
    """Finds the registered resident a row describes."""

    def __init__(self, user, area: Area) -> None:  # noqa: ANN001
        self.user = user
        self.area = area
        self.in_scope = residents_for_user(user)

    def by_id_numbers(self, indexes: list[str]) -> dict[str, dict]:
        found: dict[str, dict] = {}
        for pks in self._registered(indexes):
            for values in Resident.objects.filter(pk__in=pks).values(*_MATCH_FIELDS):
                found[values["id_number_index"]] = values
        self._add_scope_and_tags(found.values())
        return found

    @staticmethod
    def _registered(indexes: list[str]) -> Iterator[list[int]]:
        """Ids of the residents with these blind indexes, chunk by chunk. Most rows of a
        roster are new, so this narrow lookup comes first; on PostgreSQL it sends one
        array, not thousands of parameters."""
        table = Resident._meta.db_table
        with connection.cursor() as cursor:
            size = REGISTERED_CHUNK
            if connection.vendor == "sqlite":  # Django assumes 999; ask SQLite itself
                size = min(size, connection.connection.getlimit(
                    sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
            for i in range(0, len(indexes), size):
                chunk = indexes[i:i + size]
                if connection.vendor == "postgresql":
                    cursor.execute(f"SELECT id FROM {table} "  # noqa: S608
                                   "WHERE id_number_index = ANY(%s)", [chunk])
                else:  # as many parameters as this SQLite takes (32,766 since 3.32)
                    marks = ",".join(["%s"] * len(chunk))
                    cursor.execute(f"SELECT id FROM {table} "  # noqa: S608
                                   f"WHERE id_number_index IN ({marks})", chunk)
                pks = [row[0] for row in cursor.fetchall()]
                if pks:
                    yield pks

    def without_id_number(self, grid_ids: set[int]) -> dict[tuple, dict]:
        """Residents of the area without an ID number, by (name, phone index, household)."""
        rows = list(Resident.objects.filter(grid_id__in=grid_ids, id_number_index__isnull=True)
                    .values(*_MATCH_FIELDS))
        self._add_scope_and_tags(rows)
        return {(r["name"], r["phone_index"], r["household_id"]): r for r in rows}

    def _add_scope_and_tags(self, rows) -> None:  # noqa: ANN001
        rows = list(rows)
        ids = [r["pk"] for r in rows]
        visible: set[int] = set()
        tags: dict[int, set[str]] = defaultdict(set)
        for i in range(0, len(ids), LOOKUP_CHUNK):
            chunk = ids[i:i + LOOKUP_CHUNK]
            visible.update(self.in_scope.filter(pk__in=chunk).values_list("pk", flat=True))
            for rid, slug in Resident.tags.through.objects.filter(
                    resident_id__in=chunk).values_list("resident_id", "tag__slug"):
                tags[rid].add(slug)
        for r in rows:
            r["visible"] = r["pk"] in visible
            r["tags"] = tags.get(r["pk"], set())


def plan_rows(results: list, *, placer: Placer, matcher: Matcher, names: dict[str, str],
              plan: Plan) -> None:
    """Classify a batch of read rows into `plan` (in file order; call batch by batch).
    `names` maps field keys to the file's column names, for messages."""
    values = [r for r in results if isinstance(r, RowValues)]
    by_id = matcher.by_id_numbers([v.id_index for v in values if v.id_index])
    for result in results:
        if result is None:
            plan.counts["skipped"] += 1
            continue
        if not isinstance(result, RowValues):
            plan.counts["invalid"] += 1
            plan.problems.extend((result.row, col, "invalid", msg)
                                 for col, msg in result.problems)
            continue
        _plan_row(result, by_id, placer=placer, matcher=matcher, names=names, plan=plan)


def _plan_row(row: RowValues, by_id: dict[str, dict], *, placer: Placer, matcher: Matcher,
              names: dict[str, str], plan: Plan) -> None:
    seen = plan.seen
    household_ref, message, column = placer.place(row)
    if household_ref is None:
        plan.counts["invalid"] += 1
        # A column the file lacks (no unit column) is named by where the room is.
        where = names.get(column) or names.get("room") or names.get("address", "")
        plan.problems.append((row.row, where, "invalid", message))
        return
    # Duplicates inside the file: the ID number, else name + phone + household.
    key = (row.name, row.phone_index, household_ref)
    first = seen.ids.get(row.id_index) if row.id_index else seen.keys.get(key)
    if first is not None:
        plan.counts["duplicate"] += 1
        plan.problems.append((row.row, names.get("id_number" if row.id_index else "name", ""),
                              "duplicate", _("The same person as row %(row)d of the file; this "
                                             "row is left out.") % {"row": first}))
        return
    if row.id_index:
        seen.ids[row.id_index] = row.row
    else:
        seen.keys[key] = row.row
    existing = by_id.get(row.id_index) if row.id_index else None
    if existing is None and not row.id_index and household_ref[0] == "h":
        if seen.without_id is None:
            seen.without_id = matcher.without_id_number(placer.grid_ids)
        existing = seen.without_id.get((row.name, row.phone_index, household_ref[1]))
    if existing is None:
        plan.counts["new"] += 1
        relation = row.relation
        if relation is None:
            # Not in the file: the first person of a new household heads it.
            relation = "self" if household_ref[0] == "nh" and household_ref not in \
                seen.households else "other"
        seen.households.add(household_ref)
        plan.staged.append((
            "n", row.row, household_ref, relation, row.name, row.initials,
            row.pinyin, row.gender or "U", row.birth_date.toordinal() if row.birth_date else None,
            row.id_sealed, row.id_index, row.id_masked, row.phone_sealed, row.phone_index,
            row.phone_masked, row.phone_last4, row.phone_kind, row.remarks or "",
            row.tags or ()))
        return
    if not existing["visible"]:
        plan.elsewhere += 1
        plan.counts["duplicate"] += 1
        plan.problems.append((row.row, names.get("id_number", ""), "conflict", _(
            "This ID number is already registered in another area. One person is registered "
            "once: ask your community secretary to have the record moved here.")))
        return
    if existing["name"] != row.name:
        plan.counts["duplicate"] += 1
        # The problems are read by everyone who may import into this area: the registered
        # person's name and address are not repeated here.
        plan.problems.append((row.row, names.get("id_number", ""), "conflict", _(
            "This ID number is registered for someone with another name, not %(given)s. "
            "Check the ID number and the name.") % {"given": row.name}))
        return
    changes: dict[str, object] = {}
    if household_ref != ("h", existing["household_id"]):
        changes["household"] = household_ref
    if row.phone_index and row.phone_index != existing["phone_index"]:
        changes["phone"] = (row.phone_sealed, row.phone_index, row.phone_masked,
                            row.phone_last4, row.phone_kind)
    if row.gender and row.gender != "U" and row.gender != existing["gender"]:
        changes["gender"] = row.gender
    if row.birth_date and row.birth_date != existing["birth_date"]:
        changes["birth_date"] = row.birth_date.toordinal()
    if row.relation and row.relation != existing["relation"]:
        changes["relation"] = row.relation
    if row.remarks and row.remarks != existing["remarks"]:
        changes["remarks"] = row.remarks
    new_tags = tuple(t for t in (row.tags or ()) if t not in existing["tags"])
    if new_tags:
        changes["tags_add"] = new_tags
    if not changes:
        plan.counts["unchanged"] += 1
        return
    plan.counts["updated"] += 1
    plan.staged.append(("u", row.row, existing["pk"], existing["version"], changes))
