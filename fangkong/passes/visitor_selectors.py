"""Reads of the visitors, with their access gate: the community's workers and
secretaries (issuing passes or managing gates) see the visitors of their area, a grid
worker those who visit a household of their grid; the guard on duty at the gate a visitor
came through may show the visitor's leaving code."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from fangkong.accounts.roles import Can, can
from fangkong.accounts.scope import NOTHING, area_scope_q
from fangkong.lib import clock
from fangkong.passes.models import Direction, Passage, Refusal, Result, Visitor
from fangkong.places.models import Area, AreaKind

PAGE_SIZE = 50
SHOW = ("today", "inside", "risk")

def _may_read(user) -> bool:  # noqa: ANN001
    return can(user, Can.MANAGE_GATES) or can(user, Can.ISSUE_PASSES)


def _area_q(user) -> Q:  # noqa: ANN001
    """Visitors in the user's area, whatever their role: a grid worker's are those who
    visit a household of their grid; above a grid, those of the communities in the
    user's area."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return NOTHING
    if user.is_superuser:
        return Q()
    area = getattr(user, "area", None)
    if area is None:
        return NOTHING
    if area.kind == AreaKind.GRID:
        return Q(host_household__grid_id=area.pk)
    communities = Area.objects.filter(area_scope_q(user), kind=AreaKind.COMMUNITY)
    return Q(community__in=communities.values("pk"))


def visitors_for_user(user) -> QuerySet[Visitor]:  # noqa: ANN001
    """The visitors the user may list: workers and secretaries (issuing passes or managing
    gates) of the area; nobody else."""
    if not _may_read(user):
        return Visitor.objects.none()
    return Visitor.objects.filter(_area_q(user))


def visitor_for_user(user, visitor_id: int) -> Visitor:  # noqa: ANN001
    """The access gate of a visitor's page: 404 outside the user's area (never confirming
    that it exists), then 403 for a role that may not read visitors."""
    visitor = (Visitor.objects.filter(_area_q(user), pk=visitor_id)
               .select_related("gate", "host_household", "host_household__building",
                               "host_household__grid", "registered_by", "isolation_resident")
               .first())
    if visitor is None:
        raise Http404
    if not _may_read(user):
        raise PermissionDenied
    return visitor


def visitor_for_code(user, visitor_id: int) -> Visitor:  # noqa: ANN001
    """The visitor whose leaving code the user may show: a guard on duty at the gate the
    visitor came through, or a worker who may read the visitor. 404 for anyone else."""
    visitor = visitors_for_user(user).filter(pk=visitor_id).first()
    if visitor is None and can(user, Can.SCAN_AT_GATES):
        visitor = Visitor.objects.filter(pk=visitor_id, gate__guards=user,
                                         gate__active=True).first()
    if visitor is None:
        raise Http404
    return visitor


@dataclass(frozen=True)
class VisitorList:
    page: Page
    show: str
    counts: dict[str, int]


def visitor_list(user, *, show: str = "", page: int = 1) -> VisitorList:  # noqa: ANN001
    """One page of the user's visitors, newest first, with the counts of today's, of
    those inside now and of those from a risk area. `show`: "" (all), "today", "inside"
    (came in and has not left), "risk". A fixed number of queries."""
    entered = Passage.objects.filter(visitor_id=OuterRef("pk"), direction=Direction.IN,
                                     result=Result.PASSED)
    refused = Passage.objects.filter(visitor_id=OuterRef("pk"), direction=Direction.IN,
                                     refusal=Refusal.FEVER)
    rows = visitors_for_user(user).annotate(entered=Exists(entered))
    start = timezone.make_aware(datetime.combine(clock.local_today(), time.min))
    today = Q(arrived_at__gte=start, arrived_at__lt=start + timedelta(days=1))
    inside = Q(entered=True, left_at__isnull=True)
    counts = rows.aggregate(today=Count("pk", filter=today), inside=Count("pk", filter=inside),
                            risk=Count("pk", filter=Q(from_risk_area=True)))
    show = show if show in SHOW else ""
    if show == "today":
        rows = rows.filter(today)
    elif show == "inside":
        rows = rows.filter(inside)
    elif show == "risk":
        rows = rows.filter(from_risk_area=True)
    rows = (rows.annotate(fever=Exists(refused))
            .select_related("gate", "host_household", "host_household__building")
            .order_by("-arrived_at", "-pk"))
    return VisitorList(page=Paginator(rows, PAGE_SIZE).get_page(page), show=show,
                       counts=counts)
