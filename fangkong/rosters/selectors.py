"""Reads of roster imports and templates, already scoped to the user."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.http import Http404

from fangkong.accounts.roles import Can, can
from fangkong.accounts.scope import path_scope_q, user_area
from fangkong.places.models import Area, AreaKind
from fangkong.places.selectors import areas_for_user
from fangkong.rosters.models import ImportProblem, ImportTemplate, RosterImport


def imports_for_user(user) -> QuerySet[RosterImport]:  # noqa: ANN001
    """Imports into the user's area (anyone who may import there sees them all)."""
    if not can(user, Can.IMPORT_ROSTER):
        return RosterImport.objects.none()
    return (RosterImport.objects.filter(path_scope_q(user, "area__path"))
            .select_related("area", "created_by", "job"))


def import_for_user(user, import_id: int) -> RosterImport:  # noqa: ANN001
    """The access gate for imports: 404 unless the import's area is in the user's."""
    found = imports_for_user(user).filter(pk=import_id).first()
    if found is None:
        raise Http404
    return found


def import_target_areas(user) -> QuerySet[Area]:  # noqa: ANN001
    """The areas a user may import into: communities and grids of their subtree."""
    if not can(user, Can.IMPORT_ROSTER):
        return Area.objects.none()
    return (areas_for_user(user).filter(kind__in=[AreaKind.COMMUNITY, AreaKind.GRID])
            .order_by("path"))


def templates_for_user(user) -> QuerySet[ImportTemplate]:  # noqa: ANN001
    """Templates saved in the user's subtree or in an area above it (a street's template
    serves all its communities)."""
    if not can(user, Can.IMPORT_ROSTER):
        return ImportTemplate.objects.none()
    area = user_area(user)
    above = Q(area__path__in=area.ancestor_paths()) if area is not None else Q()
    return ImportTemplate.objects.filter(path_scope_q(user, "area__path") | above)


def import_problems(roster_import: RosterImport) -> QuerySet[ImportProblem]:
    return ImportProblem.objects.filter(roster_import=roster_import).order_by("row", "id")
