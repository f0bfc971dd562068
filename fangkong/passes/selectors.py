"""Reads of the gates, with their access gates: a guard reaches only the gates they are on
duty at; a manager the gates of the communities in their area."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from fangkong.accounts.roles import Can, can
from fangkong.accounts.scope import area_scope_q
from fangkong.passes.models import Gate
from fangkong.places.models import AreaKind


def guard_gates(user) -> QuerySet[Gate]:  # noqa: ANN001
    """The gates in use where the user is on duty (a superuser: none of their own)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Gate.objects.none()
    rows = Gate.objects.filter(guards=user, active=True)
    if not user.is_superuser:
        # Someone moved to another area keeps no duty at the old community's gates.
        area = getattr(user, "area", None)
        if area is None:
            return Gate.objects.none()
        community_id = area.parent_id if area.kind == AreaKind.GRID else area.pk
        rows = rows.filter(community_id=community_id)
    return rows.select_related("community").order_by("community__name", "name")


def gate_for_guard(user, gate_id: int) -> Gate:  # noqa: ANN001
    """The access gate of the scanner: a gate in use where the user is on duty (404
    otherwise, even in the user's own community), then the capability to scan (403)."""
    gate = guard_gates(user).filter(pk=gate_id).first()
    if gate is None:
        raise Http404
    if not can(user, Can.SCAN_AT_GATES):
        raise PermissionDenied
    return gate


def managed_gates(user) -> QuerySet[Gate]:  # noqa: ANN001
    """Gates of the communities in the user's area (the managers' lists)."""
    from fangkong.places.models import Area

    communities = Area.objects.filter(area_scope_q(user), kind=AreaKind.COMMUNITY)
    return Gate.objects.filter(community__in=communities).select_related("community")


def gate_for_manager(user, gate_id: int) -> Gate:  # noqa: ANN001
    """The access gate of a gate's management page: in the user's area (404), then the
    capability to manage gates (403)."""
    gate = managed_gates(user).filter(pk=gate_id).first()
    if gate is None:
        raise Http404
    if not can(user, Can.MANAGE_GATES):
        raise PermissionDenied
    return gate
