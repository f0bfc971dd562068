"""The area scope of a staff user, as filters that the selectors of every app apply.

A user sees only what lies in their area's subtree. Rows that belong to a grid carry the
ids of their district, street, community and grid, so the filter is one indexed equality.
"""

from __future__ import annotations

from django.db.models import Q

from fangkong.places.models import Area, AreaKind

NOTHING = Q(pk__in=[])


def user_area(user) -> Area | None:  # noqa: ANN001
    return getattr(user, "area", None)


def grid_scope_q(user, prefix: str = "") -> Q:  # noqa: ANN001
    """Filter for models with district/street/community/grid columns (see ScopedToGrid).

    `prefix` reaches them through a relation, e.g. "resident__".
    """
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return NOTHING
    if user.is_superuser:
        return Q()
    area = user_area(user)
    if area is None:
        return NOTHING
    if area.kind == AreaKind.CITY:
        districts = Area.objects.filter(parent_id=area.pk).values("pk")
        return Q(**{f"{prefix}district_id__in": districts})
    return Q(**{f"{prefix}{area.kind}_id": area.pk})


def area_scope_q(user) -> Q:  # noqa: ANN001
    """Filter for Area rows: the user's area and everything below it."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return NOTHING
    if user.is_superuser:
        return Q()
    area = user_area(user)
    if area is None:
        return NOTHING
    return area.subtree_q()


def path_scope_q(user, field: str) -> Q:  # noqa: ANN001
    """Filter for rows that store the path of the area they concern (e.g. audit events)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return NOTHING
    if user.is_superuser:
        return Q()
    area = user_area(user)
    if area is None:
        return NOTHING
    return area.subtree_q(field)


def area_in_scope(user, area_id: int, *, kind: str | None = None) -> Area:  # noqa: ANN001
    """The access gate of an area page: the area (of `kind`, when given) if it lies in
    the user's own subtree, else 404. Capability checks come first, in the caller."""
    from django.http import Http404

    rows = Area.objects.filter(area_scope_q(user), pk=area_id)
    area = (rows.filter(kind=kind) if kind else rows).first()
    if area is None:
        raise Http404
    return area
