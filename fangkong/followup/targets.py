"""Who a campaign asks: an area subtree crossed with filters (tags, isolation, age).

Minimum scope: a campaign targets only the residents its purpose needs; the filters are
kept on the campaign and shown with it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet
from django.utils.translation import gettext as _

from fangkong.isolation.models import IsolationPeriod, PeriodStatus
from fangkong.places.models import Area
from fangkong.residents.models import Resident, ResidentStatus, Tag

ISOLATION_CHOICES = ("", "any", "isolation", "monitoring")


def clean_target(raw: Any) -> dict[str, Any]:
    """Check a target's filters; ValueError with the reason in words."""
    raw = raw or {}
    if not isinstance(raw, dict):
        raise ValueError(_("The target is not understood."))
    tags = [str(t) for t in raw.get("tags") or []]
    known = set(Tag.objects.filter(slug__in=tags).values_list("slug", flat=True))
    unknown = [t for t in tags if t not in known]
    if unknown:
        raise ValueError(_("Unknown tags: %(tags)s.") % {"tags": ", ".join(unknown)})
    isolation = raw.get("isolation") or ""
    if isolation not in ISOLATION_CHOICES:
        raise ValueError(_("Unknown isolation filter."))
    ages = []
    for name in ("age_min", "age_max"):
        value = raw.get(name)
        if value in (None, ""):
            ages.append(None)
            continue
        try:
            age = int(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(_("An age must be a whole number of years.")) from exc
        if not 0 <= age <= 130:
            raise ValueError(_("An age lies between 0 and 130."))
        ages.append(age)
    if ages[0] is not None and ages[1] is not None and ages[0] > ages[1]:
        raise ValueError(_("The youngest age is above the oldest."))
    return {"tags": tags, "isolation": isolation, "age_min": ages[0], "age_max": ages[1]}


def _years_ago(today: date, years: int) -> date:
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February
        return today.replace(year=today.year - years, day=28)


def target_residents(area: Area, target: dict[str, Any], *, today: date) -> QuerySet[Resident]:
    """The residents a campaign with this area and target asks on `today`."""
    qs = Resident.objects.filter(area.scoped_rows_q(), status=ResidentStatus.ACTIVE)
    tags = target.get("tags") or []
    if tags:
        qs = qs.filter(tags__slug__in=tags).distinct()
    isolation = target.get("isolation") or ""
    if isolation:
        periods = IsolationPeriod.objects.filter(resident=OuterRef("pk"),
                                                 status=PeriodStatus.OPEN,
                                                 starts_on__lte=today, planned_end__gte=today)
        if isolation != "any":
            periods = periods.filter(kind=isolation)
        qs = qs.filter(Exists(periods))
    if target.get("age_min") is not None:
        qs = qs.filter(birth_date__lte=_years_ago(today, target["age_min"]))
    if target.get("age_max") is not None:
        qs = qs.filter(birth_date__gt=_years_ago(today, target["age_max"] + 1))
    return qs


def describe_target(target: dict[str, Any]) -> str:
    parts = []
    if target.get("isolation") == "any":
        parts.append(_("in home isolation or health monitoring"))
    elif target.get("isolation") == "isolation":
        parts.append(_("in home isolation"))
    elif target.get("isolation") == "monitoring":
        parts.append(_("in home health monitoring"))
    if target.get("tags"):
        names = Tag.objects.filter(slug__in=target["tags"]).values_list("name", flat=True)
        parts.append(_("tagged %(tags)s") % {"tags": "、".join(names)})
    if target.get("age_min") is not None:
        parts.append(_("aged %(n)d or over") % {"n": target["age_min"]})
    if target.get("age_max") is not None:
        parts.append(_("aged %(n)d or under") % {"n": target["age_max"]})
    return "; ".join(parts) if parts else _("every resident")
