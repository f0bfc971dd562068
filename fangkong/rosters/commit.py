"""Applying a previewed import to the registry in one transaction, and undoing it.

The commit writes exactly the plan the user saw. If the registry changed since the
preview (a planned new ID number got registered, a planned update's resident was edited),
it writes nothing and asks for a fresh check. Every row written is recorded:
the ids created as ranges on the import, each update in `ImportChange` with a sealed
snapshot, so that the whole import can be undone while nobody has changed those
residents since.
"""

from __future__ import annotations

import marshal
from collections import defaultdict
from collections.abc import Callable
from contextlib import nullcontext
from datetime import date

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, ProtectedError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from fangkong.audit.models import AuditAction
from fangkong.audit.services import audit_record
from fangkong.lib import crypto
from fangkong.lib.bulk import analyze, bulk_insert, checks_deferred, reserve_ids, sqlite_fk_off
from fangkong.places.models import Area, Building, Household, household_label
from fangkong.places.services import stats_refresh
from fangkong.residents.models import ContactPhone, Proxy, Resident, Tag
from fangkong.rosters.models import ChangeAction, ImportChange, ImportStatus, RosterImport
from fangkong.rosters.staging import stage_get

Progress = Callable[[int, int], bool]
# From this many new residents on (and when they outnumber the registry), indexes and
# foreign keys are checked once at the end instead of row by row.
BIG_COMMIT = 50_000
BATCH = 5000

HOUSEHOLD_COLS = ("id", "building_id", "unit", "room", "label", "remarks", "district_id",
                  "street_id", "community_id", "grid_id")
RESIDENT_COLS = ("id", "household_id", "relation", "name", "name_initials", "name_pinyin",
                 "gender", "birth_date", "id_number_sealed", "id_number_index",
                 "id_number_masked", "phone_sealed", "phone_index", "phone_masked",
                 "phone_last4", "phone_kind", "preferred_channel", "language_note", "remarks",
                 "status", "created_at", "updated_at", "version", "district_id", "street_id",
                 "community_id", "grid_id")
CHANGE_COLS = ("roster_import_id", "object_type", "object_id", "action", "version_after",
               "before")
UNDO_PURPOSE = "rosters.undo"
# Fields an update may change, as stored in the snapshot taken before it.
SNAPSHOT_FIELDS = ("household_id", "phone_sealed", "phone_index", "phone_masked",
                   "phone_last4", "phone_kind", "gender", "birth_date", "relation", "remarks",
                   "district_id", "street_id", "community_id", "grid_id")


class Stale(Exception):  # noqa: N818 - an outcome the user acts on
    """The registry changed since the preview; nothing was written."""


class CommitCancelled(Exception):  # noqa: N818
    pass


def _grid_scopes(grid_ids: set[int]) -> dict[int, tuple[int, int, int, int]]:
    scopes = {}
    for grid in Area.objects.filter(pk__in=grid_ids).select_related("parent__parent__parent"):
        community = grid.parent
        street = community.parent
        scopes[grid.pk] = (street.parent_id, street.pk, community.pk, grid.pk)
    return scopes


def big_commit(new_residents: int) -> bool:
    """Whether indexes and foreign keys are checked once after writing, not row by row:
    for many new residents that outnumber the registry (a first import of a district)."""
    return new_residents >= BIG_COMMIT and new_residents >= Resident.objects.count()


def commit(roster_import: RosterImport, *, progress: Progress) -> None:
    """Write the staged plan; sets the import DONE, or back to READY with the reason."""
    staged = list(stage_get(roster_import))
    big = big_commit(sum(1 for s in staged if s[0] == "n"))
    try:
        with sqlite_fk_off(big), transaction.atomic():
            _write(roster_import, staged, big=big, progress=progress)
    except IntegrityError:
        # A planned new ID number or room was registered by someone else meanwhile: the
        # unique indexes refuse it, and the whole transaction is gone.
        _back_to_preview(roster_import, _(
            "The registry has changed since the preview (someone registered some of the "
            "people or rooms of this file meanwhile). Nothing was imported. Check the file "
            "again to see the current differences."), stale=True)
    except Stale as exc:
        _back_to_preview(roster_import, str(exc), stale=True)
    except CommitCancelled:
        _back_to_preview(roster_import, _("The import was stopped; nothing was changed."),
                         stale=False)


def _back_to_preview(roster_import: RosterImport, message: str, *, stale: bool) -> None:
    roster_import.status = ImportStatus.READY
    roster_import.message = message
    roster_import.stale = stale
    roster_import.save(update_fields=["status", "message", "stale"])


def _write(roster_import: RosterImport, staged: list[tuple], *, big: bool,
           progress: Progress) -> dict:
    now = timezone.now()
    updates = [s for s in staged if s[0] == "u"]
    new_rows = [s for s in staged if s[0] == "n"]
    total = len(staged)
    # 1. Is the plan still true? Planned updates must find the version the preview saw
    # (planned new rows are checked by the unique indexes as they are written).
    versions: dict[int, int] = {}
    before: dict[int, dict] = {}
    update_ids = [s[2] for s in updates]
    for i in range(0, len(update_ids), 2000):
        for row in (Resident.objects.select_for_update().filter(pk__in=update_ids[i:i + 2000])
                    .values("pk", "version", *SNAPSHOT_FIELDS)):
            versions[row["pk"]] = row["version"]
            before[row["pk"]] = row
    changed = sum(1 for s in updates if versions.get(s[2]) != s[3])
    if changed:
        raise Stale(_("The registry has changed since the preview (%(n)d of the residents in "
                      "this file were edited meanwhile). Nothing was imported. Check the file "
                      "again to see the current differences.") % {"n": changed})

    # 2. Buildings and households the plan needs.
    building_refs: dict[tuple, int] = {}
    household_refs: dict[tuple, int] = {}
    grid_ids: set[int] = set()
    needed_buildings: dict[tuple, tuple] = {}
    needed_households: dict[tuple, tuple] = {}
    household_ids: set[int] = set()  # existing households rows go to
    for s in staged:
        ref = s[2] if s[0] == "n" else s[4].get("household")
        if not ref:
            continue
        if ref[0] == "h":
            household_ids.add(ref[1])
            continue
        needed_households[ref] = ref
        if ref[1][0] == "nb":
            needed_buildings[ref[1]] = ref[1]
    for ref in needed_buildings:
        grid_ids.add(ref[1])
    existing_building_ids = {ref[1][1] for ref in needed_households if ref[1][0] == "b"}
    building_rows = {b.pk: b for b in Building.objects.filter(pk__in=existing_building_ids)}
    grid_ids.update(b.grid_id for b in building_rows.values())
    household_grid = dict(Household.objects.filter(pk__in=household_ids)
                          .values_list("pk", "grid_id"))
    grid_ids.update(household_grid.values())
    scopes = _grid_scopes(grid_ids)
    changes: list[tuple] = []
    for ref in needed_buildings:
        _nb, grid_id, estate, number = ref
        building = Building(number=number, name=f"{number}栋", estate=estate,
                            district_id=scopes[grid_id][0], street_id=scopes[grid_id][1],
                            community_id=scopes[grid_id][2], grid_id=grid_id)
        building.save()
        building_refs[ref] = building.pk
        building_rows[building.pk] = building
        changes.append((roster_import.pk, "building", building.pk, ChangeAction.CREATED, 1,
                        None))
    def household_of(ref: tuple) -> int:
        return ref[1] if ref[0] == "h" else household_refs[ref]

    tag_ids = dict(Tag.objects.values_list("slug", "pk"))
    tag_rows: list[tuple[int, int]] = []
    tables = [Resident._meta.db_table, Resident.tags.through._meta.db_table,
              Household._meta.db_table]
    # The database's own form of the timestamp, once (SQLite stores text).
    now_db = connection.ops.adapt_datetimefield_value(now)
    done = 0
    with checks_deferred(tables) if big else nullcontext():
        hh_ids = reserve_ids(Household, len(needed_households))
        hh_rows = []
        for hid, ref in zip(hh_ids, needed_households, strict=True):
            _nh, bref, unit, room = ref
            bid = bref[1] if bref[0] == "b" else building_refs[bref]
            building = building_rows[bid]
            household_refs[ref] = hid
            household_grid[hid] = building.grid_id
            hh_rows.append((hid, bid, unit, room, household_label(building.name, unit, room),
                            "", *scopes[building.grid_id]))
        bulk_insert(Household._meta.db_table, HOUSEHOLD_COLS, hh_rows)
        # 3. New residents, with ids reserved up front.
        ids = reserve_ids(Resident, len(new_rows))
        for start in range(0, len(new_rows), BATCH):
            rows = []
            for rid, s in zip(ids[start:start + BATCH], new_rows[start:start + BATCH],
                              strict=True):
                hid = household_of(s[2])
                rows.append((rid, hid, s[3], s[4], s[5], s[6], s[7],
                             date.fromordinal(s[8]) if s[8] else None, s[9], s[10], s[11],
                             s[12], s[13], s[14], s[15], s[16], "", "", s[17], "active",
                             now_db, now_db, 1, *scopes[household_grid[hid]]))
                if s[18]:
                    tag_rows.extend((rid, tag_ids[slug]) for slug in s[18] if slug in tag_ids)
            bulk_insert(Resident._meta.db_table, RESIDENT_COLS, rows)
            done += len(rows)
            if not progress(done, total):
                raise CommitCancelled
        # 4. Changed residents, each guarded by the version seen in the preview.
        ring = crypto.keyring()
        for s in updates:
            _u, _row, rid, version, change = s
            fields: dict[str, object] = {}
            if "household" in change:
                hid = household_of(change["household"])
                district, street, community, grid = scopes[household_grid[hid]]
                fields.update(household_id=hid, district_id=district, street_id=street,
                              community_id=community, grid_id=grid)
            if "phone" in change:
                sealed, index, masked, last4, kind = change["phone"]
                fields.update(phone_sealed=sealed, phone_index=index, phone_masked=masked,
                              phone_last4=last4, phone_kind=kind)
            for name in ("gender", "relation", "remarks"):
                if name in change:
                    fields[name] = change[name]
            if "birth_date" in change:
                fields["birth_date"] = date.fromordinal(change["birth_date"])
            snapshot = {k: _plain(before[rid][k]) for k in SNAPSHOT_FIELDS}
            snapshot["tags_add"] = list(change.get("tags_add", ()))
            if fields:
                fields.update(version=version + 1, updated_at=now)
                Resident.objects.filter(pk=rid, version=version).update(**fields)
            else:  # only tags were added: still a change of the resident
                Resident.objects.filter(pk=rid, version=version).update(
                    version=version + 1, updated_at=now)
            tag_rows.extend((rid, tag_ids[slug]) for slug in change.get("tags_add", ())
                            if slug in tag_ids)
            changes.append((roster_import.pk, "resident", rid, ChangeAction.UPDATED,
                            version + 1, ring.seal_bytes(marshal.dumps(snapshot),
                                                         purpose=UNDO_PURPOSE)))
            done += 1
            if done % BATCH == 0 and not progress(done, total):
                raise CommitCancelled
        bulk_insert(Resident.tags.through._meta.db_table, ("resident_id", "tag_id"), tag_rows)
    bulk_insert(ImportChange._meta.db_table, CHANGE_COLS, changes)
    # Created rows are recorded as ranges of ids (the ids were reserved in blocks): a
    # million residents are a few numbers, not a million rows.
    roster_import.created = {"resident": id_ranges(ids), "household": id_ranges(hh_ids)}
    if big:
        analyze(tables)
    # The grids rows went to, and the grids moved residents left.
    touched = set(household_grid.values()) | {before[s[2]]["grid_id"] for s in updates}
    stats_refresh(grid_ids=touched)
    counts = dict(roster_import.counts)
    roster_import.status = ImportStatus.DONE
    roster_import.message = ""
    roster_import.stale = False
    roster_import.committed_at = now
    roster_import.save(update_fields=["status", "message", "stale", "committed_at",
                                      "created"])
    audit_record(by=roster_import.created_by, action=AuditAction.ROSTER_IMPORT,
                 object_type="roster_import", object_id=roster_import.pk,
                 object_label=roster_import.filename, area_path=roster_import.area.path,
                 changes={"sha256": ["", roster_import.sha256], "counts": ["", counts]})
    return counts


def _plain(value: object) -> object:
    if isinstance(value, date):
        return value.toordinal()
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def id_ranges(ids: list[int]) -> list[list[int]]:
    """[[first, last], ...] of consecutive runs of `ids`."""
    ranges: list[list[int]] = []
    for pk in sorted(ids):
        if ranges and pk == ranges[-1][1] + 1:
            ranges[-1][1] = pk
        else:
            ranges.append([pk, pk])
    return ranges


def _windows(ranges: list[list[int]], size: int = 5000) -> list[tuple[int, int]]:
    """The ranges cut into windows of at most `size` ids (bounded queries and deletes)."""
    return [(a, min(a + size - 1, last)) for first, last in ranges
            for a in range(first, last + 1, size)]


def undo_blockers(roster_import: RosterImport) -> list[str]:
    """Why the import cannot be undone now (empty when it can): residents it wrote that
    someone has changed since, or that other records now depend on."""
    rows = ImportChange.objects.filter(roster_import=roster_import, object_type="resident")
    expected = dict(rows.values_list("object_id", "version_after"))
    ids = list(expected)
    changed: list[str] = []
    found = 0
    for i in range(0, len(ids), 2000):
        for pk, name, version in Resident.objects.filter(pk__in=ids[i:i + 2000]).values_list(
                "pk", "name", "version"):
            found += 1
            if version != expected[pk]:
                changed.append(name)
    missing = len(ids) - found
    created = roster_import.created.get("resident", [])
    linked = 0
    for first, last in _windows(created):
        window = Resident.objects.filter(pk__range=(first, last))
        found = window.count()
        missing += last - first + 1 - found
        changed.extend(window.exclude(version=1).values_list("name", flat=True)[:5])
        linked += Proxy.objects.filter(resident__pk__range=(first, last)).count()
        # A proxy of someone else who is one of these residents would lose its link.
        linked += Proxy.objects.filter(proxy_resident__pk__range=(first, last)).count()
        linked += ContactPhone.objects.filter(resident__pk__range=(first, last)).count()
    problems = []
    if changed:
        problems.append(ngettext(
            "%(n)d resident from this import has been changed since (%(names)s); undo it by "
            "hand.", "%(n)d residents from this import have been changed since (%(names)s); "
            "undo them by hand.", len(changed)) % {"n": len(changed),
                                                   "names": "、".join(changed[:5])})
    if missing:
        problems.append(ngettext(
            "%(n)d resident from this import has been removed since.",
            "%(n)d residents from this import have been removed since.", missing)
            % {"n": missing})
    if linked:
        problems.append(_("Proxies or phones have been added since to residents of this "
                          "import."))
    return problems


def undo(roster_import: RosterImport, *, by) -> None:  # noqa: ANN001
    """Undo a committed import as a whole, or nothing (status back to DONE with why)."""
    try:
        with transaction.atomic():
            _undo(roster_import, by=by)
    except _Blocked as exc:
        roster_import.status = ImportStatus.DONE
        roster_import.message = " ".join(exc.args[0])
        roster_import.save(update_fields=["status", "message"])


class _Blocked(Exception):
    pass


def _undo(roster_import: RosterImport, *, by) -> None:  # noqa: ANN001
    # Lock the residents first, so that nobody edits one between the check and the undo.
    updated = list(ImportChange.objects.filter(
        roster_import=roster_import, object_type="resident").values_list("object_id",
                                                                       flat=True))
    for i in range(0, len(updated), 2000):
        list(Resident.objects.select_for_update().filter(pk__in=updated[i:i + 2000])
             .values_list("pk", flat=True))
    for first, last in _windows(roster_import.created.get("resident", [])):
        list(Resident.objects.select_for_update().filter(pk__range=(first, last))
             .values_list("pk", flat=True))
    blockers = undo_blockers(roster_import)
    if blockers:
        raise _Blocked(blockers)
    ring = crypto.keyring()
    changes = ImportChange.objects.filter(roster_import=roster_import)
    grids: set[int] = set()
    created = roster_import.created.get("resident", [])
    now = timezone.now()
    for row in changes.filter(object_type="resident", action=ChangeAction.UPDATED).values(
            "object_id", "version_after", "before"):
        snapshot = marshal.loads(ring.open_bytes(row["before"], purpose=UNDO_PURPOSE))  # noqa: S302
        tags_add = snapshot.pop("tags_add", [])
        if snapshot["birth_date"] is not None:
            snapshot["birth_date"] = date.fromordinal(snapshot["birth_date"])
        current_grid = Resident.objects.filter(pk=row["object_id"]).values_list(
            "grid_id", flat=True).first()
        grids.update({current_grid, snapshot["grid_id"]})
        restored = Resident.objects.filter(pk=row["object_id"],
                                           version=row["version_after"]).update(
            **snapshot, version=row["version_after"] + 1, updated_at=now)
        if not restored:  # changed after all: undo nothing
            raise _Blocked([_("A resident of this import was changed while undoing; "
                              "nothing was undone.")])
        if tags_add:
            Resident.tags.through.objects.filter(resident_id=row["object_id"],
                                                 tag__slug__in=tags_add).delete()
    counts: dict[str, int] = defaultdict(int)
    for first, last in _windows(created):
        window = Resident.objects.filter(pk__range=(first, last))
        grids.update(window.values_list("grid_id", flat=True).distinct())
        Resident.tags.through.objects.filter(resident__pk__range=(first, last)).delete()
        try:
            counts["resident_created"] += window.delete()[1].get(Resident._meta.label, 0)
        except ProtectedError as exc:
            raise _Blocked([_("Other records (such as follow-up answers) now refer to "
                              "residents of this import.")]) from exc
    # Rooms and buildings the import created go too, unless someone has moved in since.
    for first, last in _windows(roster_import.created.get("household", [])):
        counts["household_created"] += Household.objects.filter(
            pk__range=(first, last)).annotate(n=Count("residents")).filter(n=0).delete()[0]
    buildings = list(changes.filter(object_type="building").values_list("object_id", flat=True))
    counts["building_created"] = Building.objects.filter(pk__in=buildings).annotate(
        n=Count("households")).filter(n=0).delete()[0]
    counts["resident_updated"] = changes.filter(object_type="resident",
                                                action=ChangeAction.UPDATED).count()
    stats_refresh(grid_ids={g for g in grids if g})
    roster_import.status = ImportStatus.UNDONE
    roster_import.message = ""
    roster_import.undone_at = now
    roster_import.undone_by = by
    roster_import.save(update_fields=["status", "message", "undone_at", "undone_by"])
    audit_record(by=by, action=AuditAction.ROSTER_UNDO, object_type="roster_import",
                 object_id=roster_import.pk, object_label=roster_import.filename,
                 area_path=roster_import.area.path, changes={"undone": ["", dict(counts)]})
