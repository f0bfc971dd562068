"""Reads of difficulties and care officers: the access gate, the scoped lists and the
figures of an area.

Who reads a difficulty:
- its filer, always;
- the care officers of its street, always (confidential ones included);
- for a non-confidential one also: whoever holds it, the secretary of its community, and
  street officers and administrators whose area contains it.
Nobody else, and never a confidential one outside the first two: for them it is a count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Avg, Count, Q, QuerySet
from django.http import Http404

from fangkong.accounts.models import Role, User
from fangkong.accounts.roles import Can, can
from fangkong.accounts.scope import NOTHING, area_in_scope, area_scope_q, path_scope_q
from fangkong.care.models import (
    PENDING,
    CareOfficer,
    Difficulty,
    DifficultyKind,
    DifficultyStatus,
    Level,
)
from fangkong.lib import clock
from fangkong.places.models import Area, AreaKind

_RELATED = ("filed_by", "filed_by__area", "assigned_to", "community", "street")


def _active(user) -> bool:  # noqa: ANN001
    return bool(getattr(user, "is_authenticated", False) and user.is_active)


def care_streets(user) -> QuerySet:  # noqa: ANN001
    """Ids of the streets whose care officer the user is."""
    return CareOfficer.objects.filter(user_id=user.pk).values("street_id")


def _overseer(user) -> bool:  # noqa: ANN001
    """Street officers and administrators read the non-confidential difficulties of their
    area (superusers too, for the back office)."""
    return user.is_superuser or user.role in (Role.STREET_OFFICER, Role.ADMIN)


def visible_q(user) -> Q:  # noqa: ANN001
    if not _active(user):
        return NOTHING
    q = Q(filed_by_id=user.pk) | Q(street_id__in=care_streets(user))
    open_to = Q(assigned_to_id=user.pk)
    if user.role == Role.COMMUNITY_SECRETARY and user.area_id:
        open_to |= Q(community_id=user.area_id)
    if _overseer(user):
        open_to |= path_scope_q(user, "area_path")
    return q | (Q(confidential=False) & open_to)


def handle_q(user) -> Q:  # noqa: ANN001
    """The difficulties the user may act on (acknowledge, assign, resolve): never their
    own; any of a street they are care officer of; a non-confidential one they hold or of
    their community (secretary) or escalated to their district (administrator)."""
    if not _active(user):
        return NOTHING
    q = Q(street_id__in=care_streets(user))
    open_to = Q(assigned_to_id=user.pk)
    if user.role == Role.COMMUNITY_SECRETARY and user.area_id:
        open_to |= Q(community_id=user.area_id)
    if user.role == Role.ADMIN or user.is_superuser:
        open_to |= Q(level=Level.DISTRICT) & path_scope_q(user, "area_path")
    return (q | (Q(confidential=False) & open_to)) & ~Q(filed_by_id=user.pk)


def difficulties_for_user(user) -> QuerySet[Difficulty]:  # noqa: ANN001
    return Difficulty.objects.filter(visible_q(user))


def difficulty_for_user(user, difficulty_id: int) -> Difficulty:  # noqa: ANN001
    """The access gate for difficulties: 404 for anyone who may not read this one."""
    difficulty = (difficulties_for_user(user).select_related(*_RELATED)
                  .prefetch_related("events", "events__by").filter(pk=difficulty_id).first())
    if difficulty is None:
        raise Http404
    return difficulty


def may_handle(user, difficulty: Difficulty) -> bool:  # noqa: ANN001
    return Difficulty.objects.filter(handle_q(user), pk=difficulty.pk).exists()


def my_difficulties(user) -> list[Difficulty]:  # noqa: ANN001
    """What the user filed, newest first (the last 100)."""
    if not _active(user):
        return []
    return list(Difficulty.objects.filter(filed_by_id=user.pk)
                .select_related("assigned_to").order_by("-filed_at", "-pk")[:100])


def difficulties_to_handle(user) -> list[Difficulty]:  # noqa: ANN001
    """The pending difficulties the user may act on, the earliest deadline first."""
    return list(Difficulty.objects.filter(handle_q(user), status__in=PENDING)
                .select_related(*_RELATED).order_by("due_at", "pk")[:500])


def assignees_for(difficulty: Difficulty) -> list[User]:
    """Who may be given a difficulty: the care officers of its street and, unless it is
    confidential, the secretaries of its community. Never its filer."""
    q = Q(care_posts__street_id=difficulty.street_id)
    if not difficulty.confidential and difficulty.community_id:
        q |= Q(role=Role.COMMUNITY_SECRETARY, area_id=difficulty.community_id)
    return list(User.objects.filter(q, is_active=True).exclude(pk=difficulty.filed_by_id)
                .distinct().order_by("pk"))


def is_care_officer(user, street_id: int) -> bool:  # noqa: ANN001
    return CareOfficer.objects.filter(user_id=user.pk, street_id=street_id).exists()


# Care officers ----------------------------------------------------------------------------


def streets_for_designation(user) -> list[Area]:  # noqa: ANN001
    """The streets whose care officers the user designates."""
    if not can(user, Can.DESIGNATE_CARE_OFFICERS):
        return []
    return list(Area.objects.filter(area_scope_q(user), kind=AreaKind.STREET)
                .order_by("path"))


def street_for_designation(user, street_id: int) -> Area:  # noqa: ANN001
    """The access gate of the designation page: 404 unless a street of the user's area
    and the user designates care officers."""
    if not can(user, Can.DESIGNATE_CARE_OFFICERS):
        raise Http404
    return area_in_scope(user, street_id, kind=AreaKind.STREET)


def officers_of(street: Area) -> list[CareOfficer]:
    return list(CareOfficer.objects.filter(street=street).select_related("user", "user__area")
                .order_by("designated_at", "pk"))


def staff_of_street(street: Area) -> QuerySet[User]:
    """Who may be designated: the active staff whose post lies in the street."""
    return (User.objects.filter(street.subtree_q("area__path"), is_active=True)
            .select_related("area").order_by("area__path", "username"))


# Figures of an area -------------------------------------------------------------------------


def area_for_figures(user, area_id: int) -> Area:  # noqa: ANN001
    """The access gate of the dashboard: 404 unless an area in the user's subtree and the
    user's role sees care figures."""
    if not can(user, Can.VIEW_CARE_FIGURES):
        raise Http404
    return area_in_scope(user, area_id)


@dataclass
class CareFigures:
    total: int
    pending: int
    overdue: int
    resolved: int
    confidential: int
    confidential_overdue: int
    average_rating: float | None
    by_kind: list[tuple[str, int]]  # (kind label, count), every kind
    overdue_items: list[Difficulty]  # non-confidential only


def area_figures(area: Area, *, now: datetime | None = None) -> CareFigures:
    """Counts of the difficulties filed under an area, its overdue non-confidential items
    and the count per kind. Reads no confidential details: confidential difficulties are
    counted, never listed."""
    now = now or clock.now()
    rows = Difficulty.objects.filter(area.subtree_q("area_path"))
    overdue = Q(status__in=PENDING, due_at__lt=now)
    counts = rows.aggregate(
        n_total=Count("pk"),
        n_pending=Count("pk", filter=Q(status__in=PENDING)),
        n_overdue=Count("pk", filter=overdue),
        n_resolved=Count("pk", filter=Q(status__in=(DifficultyStatus.RESOLVED,
                                                    DifficultyStatus.CLOSED))),
        n_confidential=Count("pk", filter=Q(confidential=True)),
        n_confidential_overdue=Count("pk", filter=overdue & Q(confidential=True)),
        rating=Avg("rating"),
    )
    per_kind = dict(rows.values_list("kind").annotate(n=Count("pk")).order_by())
    by_kind = [(label, per_kind.get(value, 0)) for value, label in DifficultyKind.choices]
    items = list(rows.filter(overdue, confidential=False)
                 .select_related("community", "street", "assigned_to")
                 .order_by("due_at", "pk")[:200])
    return CareFigures(
        total=counts["n_total"], pending=counts["n_pending"], overdue=counts["n_overdue"],
        resolved=counts["n_resolved"], confidential=counts["n_confidential"],
        confidential_overdue=counts["n_confidential_overdue"],
        average_rating=counts["rating"], by_kind=by_kind, overdue_items=items)
