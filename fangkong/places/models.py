"""The area tree (city > district > street > community > grid) and the dwellings in a grid
(building > household, with the unit as part of the household's address)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class AreaKind(models.TextChoices):
    CITY = "city", _("City")
    DISTRICT = "district", _("District")
    STREET = "street", _("Street")
    COMMUNITY = "community", _("Community")
    GRID = "grid", _("Grid")


# Depth in the tree of each kind; the child of a kind is the next one.
AREA_LEVELS: dict[str, int] = {
    AreaKind.CITY: 0,
    AreaKind.DISTRICT: 1,
    AreaKind.STREET: 2,
    AreaKind.COMMUNITY: 3,
    AreaKind.GRID: 4,
}
CHILD_KIND: dict[str, str | None] = {
    AreaKind.CITY: AreaKind.DISTRICT,
    AreaKind.DISTRICT: AreaKind.STREET,
    AreaKind.STREET: AreaKind.COMMUNITY,
    AreaKind.COMMUNITY: AreaKind.GRID,
    AreaKind.GRID: None,
}
# Kinds whose id is copied onto buildings, households and residents, so that "everything
# under this area" is one equality on an indexed integer column on both databases.
SCOPED_KINDS = (AreaKind.DISTRICT, AreaKind.STREET, AreaKind.COMMUNITY, AreaKind.GRID)


class Area(models.Model):
    kind = models.CharField(_("kind"), max_length=16, choices=AreaKind.choices)
    name = models.CharField(_("name"), max_length=64)
    # GB/T 2260 six-digit code for a city or district; the statistical 9/12-digit code for a
    # street or community where known. Empty for grids.
    code = models.CharField(_("official code"), max_length=12, blank=True, db_index=True)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )
    # Materialised path of segments, e.g. "420100.420102.003.012.05": the subtree of an area
    # is every row whose path starts with its own path plus ".".
    path = models.CharField(max_length=255, unique=True)
    depth = models.PositiveSmallIntegerField()
    sort_order = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("area")
        verbose_name_plural = _("areas")
        ordering = ["path"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind="city") & Q(parent__isnull=True))
                | (~Q(kind="city") & Q(parent__isnull=False)),
                name="area_only_city_is_root",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def child_kind(self) -> str | None:
        return CHILD_KIND[self.kind]

    def subtree_q(self, field: str = "path") -> Q:
        return Q(**{field: self.path}) | Q(**{f"{field}__prefix": self.path + "."})

    def scoped_rows_q(self) -> Q:
        """Filter for the rows that carry area columns (ScopedToGrid: buildings,
        households, residents) lying under this area: one equality on an indexed column,
        or for a city its districts."""
        if self.kind == AreaKind.CITY:
            return Q(district_id__in=Area.objects.filter(parent=self).values("pk"))
        return Q(**{f"{self.kind}_id": self.pk})

    def ancestor_paths(self) -> list[str]:
        parts = self.path.split(".")
        return [".".join(parts[:i]) for i in range(1, len(parts))]


class AreaStats(models.Model):
    """Pre-aggregated counts of an area's subtree, for home pages and dashboards.

    Kept exact by the registry services (+1/-1 in the same transaction) and rebuilt from
    scratch by `places_refresh_stats` (periodic job and after bulk loads).
    """

    area = models.OneToOneField(Area, on_delete=models.CASCADE, primary_key=True,
                                related_name="stats")
    residents = models.PositiveIntegerField(default=0)
    households = models.PositiveIntegerField(default=0)
    buildings = models.PositiveIntegerField(default=0)
    elderly = models.PositiveIntegerField(default=0)  # aged 65 or over
    by_tag = models.JSONField(default=dict)  # tag slug -> residents with that tag
    refreshed_at = models.DateTimeField(null=True)

    class Meta:
        verbose_name = _("area figures")
        verbose_name_plural = _("area figures")

    def __str__(self) -> str:
        return f"figures of area {self.area_id}"


class ScopedToGrid(models.Model):
    """Area columns copied from the grid a row belongs to (see SCOPED_KINDS)."""

    district = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="+")
    street = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="+")
    community = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="+")
    grid = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="+")

    class Meta:
        abstract = True

    def copy_scope_from(self, other: ScopedToGrid) -> None:
        self.district_id = other.district_id
        self.street_id = other.street_id
        self.community_id = other.community_id
        self.grid_id = other.grid_id


class Building(ScopedToGrid):
    number = models.PositiveIntegerField(_("building number"))
    name = models.CharField(_("name"), max_length=64)  # "3栋", "3号楼", "A座"
    address = models.CharField(_("address"), max_length=200, blank=True)
    estate = models.CharField(_("estate"), max_length=64, blank=True)  # 小区
    floors = models.PositiveSmallIntegerField(_("floors"), null=True, blank=True)
    units = models.PositiveSmallIntegerField(_("units"), default=1)

    class Meta:
        verbose_name = _("building")
        verbose_name_plural = _("buildings")
        ordering = ["grid_id", "estate", "number"]
        constraints = [
            models.UniqueConstraint(fields=["grid", "estate", "number"],
                                    name="building_unique_number_in_estate"),
        ]

    def __str__(self) -> str:
        return f"{self.estate}{self.name}" if self.estate else self.name


class Household(ScopedToGrid):
    building = models.ForeignKey(Building, on_delete=models.PROTECT, related_name="households")
    unit = models.PositiveSmallIntegerField(_("unit"), default=1)
    room = models.CharField(_("room"), max_length=16, db_index=True)
    # "3栋2单元501": what people say and search for; kept in step by the services.
    label = models.CharField(_("address"), max_length=100, db_index=True)
    remarks = models.CharField(_("remarks"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("household")
        verbose_name_plural = _("households")
        constraints = [
            models.UniqueConstraint(fields=["building", "unit", "room"],
                                    name="household_unique_room"),
        ]

    def __str__(self) -> str:
        return self.label


def household_label(building_name: str, unit: int, room: str) -> str:
    return f"{building_name}{unit}单元{room}"
