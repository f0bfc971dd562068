"""Reads of isolation periods, scoped to the user: the access gate and the lists."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from fangkong.accounts.roles import Can, can
from fangkong.accounts.scope import grid_scope_q
from fangkong.isolation.models import IsolationPeriod, PeriodStatus


def periods_for_user(user) -> QuerySet[IsolationPeriod]:  # noqa: ANN001
    if not can(user, Can.VIEW_REGISTRY):
        return IsolationPeriod.objects.none()
    return IsolationPeriod.objects.filter(grid_scope_q(user, prefix="resident__"))


def period_for_user(user, period_id: int) -> IsolationPeriod:  # noqa: ANN001
    """The access gate for periods: 404 outside the user's area."""
    period = (periods_for_user(user)
              .select_related("resident", "resident__household", "resident__grid",
                              "created_by")
              .prefetch_related("events").filter(pk=period_id).first())
    if period is None:
        raise Http404
    return period


def open_periods(user) -> list[IsolationPeriod]:  # noqa: ANN001
    """Open periods of the user's area, the ones ending first on top."""
    return list(periods_for_user(user).filter(status=PeriodStatus.OPEN)
                .select_related("resident", "resident__household", "resident__grid")
                .order_by("planned_end", "pk")[:500])
