"""Batching of errands: shopping lists per pharmacy or supplier, and garbage rounds per
building.

Shopping lists: the open medicine (or grocery) errands of a worker's area, grouped by
where they are bought, with their counts. One supplier at a time is shown in full: the
lines of all its errands summed (same name, strength and unit), the unusual quantities
with their flag, and the households to deliver to in walking order. Everything is counted
and summed in SQL, and the delivery list is cut in SQL, so a page costs the same four
queries for 10 or 10,000 errands.

Garbage rounds: a building's households with a standing garbage service are collected
once a day at the round's time by its helper. The helper (a volunteer, say) sees only
the round they collect, room numbers only; the workers of the area see every round of it.

Access: the errands and buildings of `handled_q` (workers with the errands capability, in
their area); a round also to its helper. Services refuse anything else with
PermissionDenied (the views answer 404).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, FilteredRelation, Q, Sum
from django.db.models.functions import Length
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from fangkong.accounts.models import Role, User
from fangkong.accounts.roles import Can, can
from fangkong.accounts.scope import NOTHING, grid_scope_q
from fangkong.errands.models import (
    Errand,
    ErrandEvent,
    ErrandItem,
    ErrandKind,
    ErrandStatus,
    GarbagePickup,
    GarbageRound,
    GarbageService,
    Urgency,
    VolunteerStatus,
)
from fangkong.errands.selectors import handled_q
from fangkong.errands.services import NOTHING_TO_BUY, helpers_q_for
from fangkong.followup.channels.base import masked_name
from fangkong.lib import clock
from fangkong.lib.fields import clean_text
from fangkong.places.models import Building

# What is batched, and which errands are still to be bought (the default filter). Once
# on the way, an errand's shopping is done.
BATCH_KINDS = (ErrandKind.MEDICINE, ErrandKind.GROCERIES)
TO_BUY = (ErrandStatus.NEW, ErrandStatus.ASSIGNED, ErrandStatus.BUYING)
LIST_STATUSES = (*TO_BUY, ErrandStatus.DELIVERING)
DELIVERY_CAP = 500  # households shown per supplier; the page says how many more there are
FLAG_CAP = 200  # unusual lines of the supplier shown, each with its errand
MAX_SELECTED = 1000  # errands given a supplier in one go
SUPPLIER_MAX = 60

# Walking order: estate, building, unit, then the room by floor ("502" before "1201").
_WALK = ("household__building__estate", "household__building__number",
         "household__building_id", "household__unit", Length("household__room"),
         "household__room", "pk")


def _handled_items_q(user) -> Q:  # noqa: ANN001
    """`handled_q` through an item's errand (a join instead of a subquery)."""
    if not can(user, Can.HANDLE_ERRANDS):
        return NOTHING
    return grid_scope_q(user, "errand__")


# Shopping lists ---------------------------------------------------------------------------


@dataclass
class Flagged:
    errand_id: int
    quantity: int
    flag: str


@dataclass
class Line:
    name: str
    strength: str
    unit: str
    quantity: int  # summed over the supplier's errands
    errands: int
    prescriptions: int  # errands asking for it with a prescription
    flagged: list[Flagged] = field(default_factory=list)


@dataclass
class Stop:
    errand_id: int
    name: str  # masked
    estate: str
    label: str  # building, unit and room: "3栋2单元501"
    urgency: str
    urgency_label: str
    status_label: str
    vulnerable: bool
    isolated: bool
    overdue: bool


@dataclass
class SupplierList:
    supplier: str  # "" when not chosen yet
    errands: int
    households: int
    lines: list[Line] = field(default_factory=list)  # filled for the supplier shown
    stops: list[Stop] = field(default_factory=list)

    @property
    def stops_cut(self) -> int:
        """Errands of this supplier not in the delivery list shown (past DELIVERY_CAP)."""
        return max(self.errands - len(self.stops), 0)


@dataclass
class ShoppingLists:
    kind: str
    statuses: tuple[str, ...]
    suppliers: list[SupplierList]  # every supplier with its counts, the unchosen last
    shown: SupplierList | None  # the one whose lines and households are filled in
    per_kind: dict[str, int]  # errands of each batched kind, for the tabs
    flags_cut: bool  # more unusual lines than FLAG_CAP

    @property
    def errands(self) -> int:
        return sum(s.errands for s in self.suppliers)

    @property
    def unchosen(self) -> int:
        """Errands of this kind without a supplier."""
        return next((s.errands for s in self.suppliers if not s.supplier), 0)

    @property
    def known_suppliers(self) -> list[str]:
        return [s.supplier for s in self.suppliers if s.supplier]


def parse_statuses(values: Iterable[str]) -> tuple[str, ...]:
    """The statuses asked for in `?status=` (repeated or comma-separated); the errands
    still to be bought when none is valid."""
    asked = [s for value in values for s in value.split(",") if s in LIST_STATUSES]
    return tuple(s for s in LIST_STATUSES if s in asked) or TO_BUY


def shopping_lists(user, *, kind: str = ErrandKind.MEDICINE,  # noqa: ANN001
                   statuses: Iterable[str] = TO_BUY, supplier: str | None = None,
                   now: datetime | None = None, cap: int = DELIVERY_CAP) -> ShoppingLists:
    """The open errands of `kind` in the user's area (`handled_q`) grouped by supplier,
    with their counts; for one supplier (`supplier`, "" for the errands without one; by
    default the first), its summed lines and its first `cap` households in walking order.
    Four queries, whatever the number of errands."""
    now = now or clock.now()
    kind = kind if kind in BATCH_KINDS else ErrandKind.MEDICINE
    statuses = tuple(s for s in statuses if s in LIST_STATUSES) or TO_BUY
    errands = Errand.objects.filter(handled_q(user), status__in=statuses)
    found: dict[str, SupplierList] = {}
    per_kind = dict.fromkeys(BATCH_KINDS, 0)
    for row in (errands.filter(kind__in=BATCH_KINDS).values("kind", "supplier")
                .annotate(n=Count("pk"), households=Count("household_id", distinct=True))
                .order_by()):
        per_kind[row["kind"]] += row["n"]
        if row["kind"] == kind:
            found[row["supplier"]] = SupplierList(
                supplier=row["supplier"], errands=row["n"], households=row["households"])
    # Named suppliers in order; the errands still without one last, as a to-do.
    suppliers = sorted(found.values(), key=lambda s: (s.supplier == "", s.supplier))
    shown = found.get(supplier) if supplier is not None else None
    shown = shown or (suppliers[0] if suppliers else None)
    lists = ShoppingLists(kind=kind, statuses=statuses, suppliers=suppliers, shown=shown,
                          per_kind=per_kind, flags_cut=False)
    if shown is None:
        return lists

    items = ErrandItem.objects.filter(_handled_items_q(user), errand__status__in=statuses,
                                      errand__kind=kind, errand__supplier=shown.supplier)
    lines: dict[tuple[str, str, str], Line] = {}
    for row in (items.values("name", "strength", "unit")
                .annotate(quantity=Sum("quantity"), errands=Count("errand_id", distinct=True),
                          prescriptions=Count("errand_id", distinct=True,
                                              filter=Q(prescription=True)))
                .order_by("name", "strength", "unit")):
        line = Line(name=row["name"], strength=row["strength"], unit=row["unit"],
                    quantity=row["quantity"], errands=row["errands"],
                    prescriptions=row["prescriptions"])
        lines[(row["name"], row["strength"], row["unit"])] = line
        shown.lines.append(line)
    flagged = list(items.exclude(flag="").values_list(
        "name", "strength", "unit", "errand_id", "quantity", "flag")
        .order_by("name", "errand_id", "pk")[:FLAG_CAP + 1])
    for name, strength, unit, errand_id, quantity, flag in flagged[:FLAG_CAP]:
        line = lines.get((name, strength, unit))
        if line is not None:
            line.flagged.append(Flagged(errand_id=errand_id, quantity=quantity, flag=flag))
    lists.flags_cut = len(flagged) > FLAG_CAP

    status_labels = {s: str(ErrandStatus(s).label) for s in LIST_STATUSES}
    urgency_labels = {u.value: str(u.label) for u in Urgency}
    for row in (errands.filter(kind=kind, supplier=shown.supplier)
                .values("pk", "urgency", "status", "vulnerable", "isolated", "due_at",
                        "resident__name", "household__label", "household__building__estate")
                .order_by(*_WALK)[:cap]):
        shown.stops.append(Stop(
            errand_id=row["pk"], name=masked_name(row["resident__name"]),
            estate=row["household__building__estate"], label=row["household__label"],
            urgency=row["urgency"], urgency_label=urgency_labels[row["urgency"]],
            status_label=status_labels[row["status"]],
            vulnerable=row["vulnerable"], isolated=row["isolated"],
            overdue=row["due_at"] < now))
    return lists


def clean_supplier(value: str) -> str:
    """A supplier's name as typed, spaces collapsed (so that the lists group it), or
    ValidationError in words a worker understands."""
    return clean_text(value, field="supplier", limit=SUPPLIER_MAX, collapse_spaces=True)


@transaction.atomic
def errands_set_supplier(*, errands: Iterable[Errand | int], supplier: str, by: User) -> int:
    """Set where many errands are bought (a pharmacy, a supermarket; "" for not chosen
    yet) in one go, recording a note event on each errand that changed. Returns how many
    changed; those already there are left alone (idempotent).

    All or nothing: PermissionDenied when any errand is not one the user handles (or does
    not exist), ValidationError when any is no longer to be bought (on the way, closed, or
    a garbage or repair errand) or the name is not fit to store."""
    supplier = clean_supplier(supplier)
    ids = {e.pk if isinstance(e, Errand) else int(e) for e in errands}
    if not ids:
        raise ValidationError({"errands": [_("Tick at least one request.")]})
    if len(ids) > MAX_SELECTED:
        raise ValidationError({"errands": [_("At most %(n)d requests at once.") % {
            "n": MAX_SELECTED}]})
    if not can(by, Can.HANDLE_ERRANDS) or not all(0 < pk < 2**63 for pk in ids):
        raise PermissionDenied
    rows = list(Errand.objects.select_for_update().filter(handled_q(by), pk__in=ids)
                .values_list("pk", "status", "kind", "supplier").order_by("pk"))
    if len(rows) != len(ids):
        raise PermissionDenied(_("Some of these requests are not in your area."))
    done = [pk for pk, status, kind, _s in rows if status not in TO_BUY or kind in NOTHING_TO_BUY]
    if done:
        raise ValidationError({"errands": [_(
            "Nothing was changed: request %(ids)s is no longer to be bought (on the way, "
            "closed, or nothing to buy). Untick it and save again.") % {
            "ids": ", ".join(f"#{pk}" for pk in done)}]})
    changed = [(pk, status) for pk, status, _k, now_at in rows if now_at != supplier]
    if changed:
        Errand.objects.filter(pk__in=[pk for pk, _s in changed]).update(supplier=supplier)
        detail = (_("Where to buy: %(supplier)s") % {"supplier": supplier} if supplier
                  else _("Where to buy: not chosen yet"))
        at = clock.now()
        ErrandEvent.objects.bulk_create([
            ErrandEvent(errand_id=pk, what="note", status=status, detail=detail[:200], by=by,
                        at=at) for pk, status in changed])
    return len(changed)


# Garbage rounds ---------------------------------------------------------------------------


def _active_q(day: date) -> Q:
    return Q(starts_on__lte=day) & (Q(ends_on__isnull=True) | Q(ends_on__gte=day))


def _helper_q(user, prefix: str = "") -> Q:  # noqa: ANN001
    """The rounds a user collects: they are its helper, and a verified volunteer if a
    volunteer (a suspended one loses the round at once)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return NOTHING
    q = Q(**{f"{prefix}helper_id": user.pk})
    if user.role == Role.VOLUNTEER:
        q &= Q(**{f"{prefix}helper__volunteer__status": VolunteerStatus.VERIFIED})
    return q


def _handles_building_q(user, prefix: str = "") -> Q:  # noqa: ANN001
    if not can(user, Can.HANDLE_ERRANDS):
        return NOTHING
    return grid_scope_q(user, prefix)


def handles_building(user, building_id: int) -> bool:  # noqa: ANN001
    return Building.objects.filter(_handles_building_q(user), pk=building_id).exists()


def collects_round(user, building_id: int) -> bool:  # noqa: ANN001
    return GarbageRound.objects.filter(_helper_q(user), building_id=building_id).exists()


def may_see_garbage(user) -> bool:  # noqa: ANN001
    """Workers with the errands capability, and the helpers of a round."""
    return can(user, Can.HANDLE_ERRANDS) or GarbageRound.objects.filter(_helper_q(user)).exists()


def garbage_helpers_q(building: Building) -> Q:
    """Who may collect a building's round: whoever may be given its errands (verified
    volunteers of its community, errand workers of its grid or community)."""
    # An errand of the building carries the building's area columns; helpers_q_for only
    # reads those.
    return helpers_q_for(Errand(grid_id=building.grid_id, community_id=building.community_id))


@dataclass
class BuildingRound:
    building: Building
    round: GarbageRound | None
    households: int
    done: int
    missed: int
    waiting: int
    late: bool  # past the round's time today and some still waiting


def garbage_buildings(user, *, now: datetime | None = None) -> list[BuildingRound]:  # noqa: ANN001
    """The buildings with an active garbage service that the user handles (or whose round
    they collect), with the round and today's progress. Two queries."""
    now = now or clock.now()
    today = timezone.localdate(now)
    scope = _handles_building_q(user, "building__") | _helper_q(
        user, "building__garbage_round__")
    counts = {row["building_id"]: row for row in (
        GarbageService.objects.filter(scope, _active_q(today))
        .annotate(today=FilteredRelation("pickups", condition=Q(pickups__day=today)))
        .values("building_id")
        .annotate(households=Count("household_id", distinct=True),
                  services=Count("pk"),
                  done=Count("today__pk", filter=Q(today__missed=False)),
                  missed=Count("today__pk", filter=Q(today__missed=True)))
        .order_by())}
    if not counts:
        return []
    buildings = (Building.objects.filter(pk__in=list(counts))
                 .select_related("garbage_round", "garbage_round__helper", "community")
                 .order_by("community__path", "estate", "number", "pk"))
    local_now = timezone.localtime(now).time()
    rows = []
    for building in buildings:
        row = counts[building.pk]
        round_ = getattr(building, "garbage_round", None)
        waiting = row["services"] - row["done"] - row["missed"]
        rows.append(BuildingRound(
            building=building, round=round_, households=row["households"], done=row["done"],
            missed=row["missed"], waiting=waiting,
            late=bool(waiting and round_ is not None and round_.at <= local_now)))
    return rows


@dataclass
class RoundAccess:
    building: Building
    round: GarbageRound | None
    as_worker: bool  # the whole page; else the helper's: rooms only, no names


def round_for_user(user, building_id: int) -> RoundAccess:  # noqa: ANN001
    """The access gate of a building's garbage round: the workers who handle the
    building, and the round's helper; 404 for anyone else."""
    building = (Building.objects.filter(pk=building_id)
                .select_related("garbage_round", "garbage_round__helper", "community")
                .filter(_handles_building_q(user) | _helper_q(user, "garbage_round__"))
                .first())
    if building is None:
        raise Http404
    return RoundAccess(building=building, round=getattr(building, "garbage_round", None),
                       as_worker=handles_building(user, building.pk))


@dataclass
class RoundStop:
    service_id: int
    unit: int
    room: str
    label: str
    name: str  # masked, for the workers only ("" for the helper)
    done: bool
    missed: bool
    done_at: datetime | None
    ends_on: date | None  # stopped: its last pickup day


def round_stops(building: Building, *, with_names: bool,
                day: date | None = None) -> list[RoundStop]:
    """The households collected today on a building's round, in walking order (unit, then
    room by floor), with today's pickup. One query."""
    day = day or clock.local_today()
    fields = ["pk", "household__unit", "household__room", "household__label", "ends_on",
              "today__missed", "today__done_at"]
    if with_names:
        fields.append("errand__resident__name")
    rows = (GarbageService.objects.filter(_active_q(day), building=building)
            .annotate(today=FilteredRelation("pickups", condition=Q(pickups__day=day)))
            .values(*fields)
            .order_by("household__unit", Length("household__room"), "household__room", "pk"))
    return [RoundStop(
        service_id=row["pk"], unit=row["household__unit"], room=row["household__room"],
        label=row["household__label"],
        name=masked_name(row["errand__resident__name"])
        if with_names and row.get("errand__resident__name") else "",
        done=row["today__done_at"] is not None and not row["today__missed"],
        missed=bool(row["today__missed"]), done_at=row["today__done_at"],
        ends_on=row["ends_on"]) for row in rows]


def garbage_round_set(*, building: Building, at: time, helper: User | None,
                      by: User) -> GarbageRound:
    """Set (or change) a building's daily round: its time and who collects it (None: not
    chosen yet). Only a worker who handles the building; the helper must be one who may
    be given its errands."""
    if not handles_building(by, building.pk):
        raise PermissionDenied
    if not isinstance(at, time):
        raise ValidationError({"at": [_("Write the time as hours and minutes, e.g. 08:30.")]})
    if helper is not None and not User.objects.filter(garbage_helpers_q(building),
                                                      pk=helper.pk).exists():
        raise ValidationError({"helper": [_(
            "%(name)s cannot collect this round: choose a verified volunteer of the "
            "community or a worker of the building's grid or community.") % {
            "name": helper.display_name}]})
    round_, _created = GarbageRound.objects.update_or_create(
        building=building, defaults={"community_id": building.community_id,
                                     "at": at.replace(second=0, microsecond=0),
                                     "helper": helper})
    return round_


def _may_collect(user: User, building_id: int) -> bool:
    return collects_round(user, building_id) or handles_building(user, building_id)


@transaction.atomic
def garbage_pickup_record(*, service: GarbageService, by: User,
                          missed: bool = False) -> GarbagePickup:
    """Today's pickup of a household on its round: collected, or nobody put it out
    (`missed`). Idempotent, one per service and day: a second click changes nothing,
    except that a missed pickup collected later becomes collected. By the round's helper
    or a worker who handles the building."""
    if not _may_collect(by, service.building_id):
        raise PermissionDenied
    today = clock.local_today()
    if not GarbageService.objects.filter(_active_q(today), pk=service.pk).exists():
        raise ValidationError({"service": [_(
            "This household's garbage is no longer collected.")]})
    pickup, created = GarbagePickup.objects.get_or_create(
        service=service, day=today,
        defaults={"done_at": clock.now(), "by": by, "missed": missed})
    if not created and pickup.missed and not missed:
        pickup.missed, pickup.done_at, pickup.by = False, clock.now(), by
        pickup.save(update_fields=["missed", "done_at", "by"])
    return pickup


@transaction.atomic
def garbage_service_stop(*, service: GarbageService, by: User) -> GarbageService:
    """Stop collecting a household's garbage: today is its last day (a pickup today still
    counts). Only a worker who handles the building; noted on the errand that asked for
    it. Idempotent."""
    if not handles_building(by, service.building_id):
        raise PermissionDenied
    today = clock.local_today()
    if service.ends_on is not None and service.ends_on <= today:
        return service
    service.ends_on = max(today, service.starts_on)
    service.save(update_fields=["ends_on"])
    if service.errand_id is not None:
        errand = Errand.objects.only("pk", "status").get(pk=service.errand_id)
        ErrandEvent.objects.create(errand=errand, what="note", status=errand.status,
                                   detail=_("Garbage pickup stopped after %(day)s.") % {
                                       "day": f"{service.ends_on:%Y-%m-%d}"},
                                   by=by, at=clock.now())
    return service
