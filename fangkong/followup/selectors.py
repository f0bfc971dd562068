"""Reads of the follow-up robot, already scoped to the user: the access gates of alerts,
campaigns and rounds, the alert list and the door-visit list."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Case, Count, IntegerField, Q, QuerySet, Value, When
from django.http import Http404

from fangkong.accounts.roles import Can, can
from fangkong.accounts.scope import area_scope_q, grid_scope_q, user_area
from fangkong.followup.models import (
    Alert,
    AlertStatus,
    Campaign,
    ChannelName,
    Contact,
    ContactState,
    Round,
    RoundStatus,
)
from fangkong.followup.plan import parse_plan
from fangkong.lib import clock
from fangkong.places.models import Area

SEVERITY_RANK = Case(When(severity="high", then=Value(0)), When(severity="medium", then=Value(1)),
                     default=Value(2), output_field=IntegerField())


def alerts_for_user(user) -> QuerySet[Alert]:  # noqa: ANN001
    if not can(user, Can.VIEW_REGISTRY):
        return Alert.objects.none()
    return Alert.objects.filter(grid_scope_q(user))


def alert_for_user(user, alert_id: int) -> Alert:  # noqa: ANN001
    """The access gate for alerts: 404 outside the user's area."""
    alert = (alerts_for_user(user)
             .select_related("resident", "resident__household", "assigned_area", "campaign",
                             "grid", "resolved_by")
             .prefetch_related("events").filter(pk=alert_id).first())
    if alert is None:
        raise Http404
    return alert


def alert_list(user, *, status: str = AlertStatus.OPEN, limit: int = 200) -> list[Alert]:  # noqa: ANN001
    """Open alerts first by severity then deadline; the ones assigned to the user's own
    area come first (what is theirs to do)."""
    area = user_area(user)
    mine = (Case(When(assigned_area_id=area.pk, then=Value(0)), default=Value(1),
                 output_field=IntegerField()) if area else Value(0))
    qs = (alerts_for_user(user).filter(status=status)
          .select_related("resident", "resident__household", "assigned_area", "grid")
          .annotate(rank=SEVERITY_RANK, mine=mine))
    if status == AlertStatus.OPEN:
        qs = qs.order_by("mine", "rank", "due_at", "pk")
    else:
        qs = qs.order_by("-resolved_at", "-pk")
    return list(qs[:limit])


def campaigns_for_user(user) -> QuerySet[Campaign]:  # noqa: ANN001
    """Campaigns of the user's area, of the areas above it that reach into it, and below."""
    if not can(user, Can.VIEW_REGISTRY):
        return Campaign.objects.none()
    if user.is_superuser:
        return Campaign.objects.all()
    area = user_area(user)
    if area is None:
        return Campaign.objects.none()
    above = [p for p in area.ancestor_paths()]
    return Campaign.objects.filter(Q(area__in=Area.objects.filter(area_scope_q(user)))
                                   | Q(area__path__in=above))


def campaign_for_user(user, campaign_id: int) -> Campaign:  # noqa: ANN001
    campaign = (campaigns_for_user(user).select_related("area", "version",
                                                        "version__questionnaire", "created_by")
                .filter(pk=campaign_id).first())
    if campaign is None:
        raise Http404
    return campaign


def round_for_user(user, round_id: int) -> Round:  # noqa: ANN001
    round_ = (Round.objects.select_related("campaign", "campaign__area", "campaign__version")
              .filter(pk=round_id, campaign__in=campaigns_for_user(user)).first())
    if round_ is None:
        raise Http404
    return round_


def visit_waiting_q(now: datetime) -> Q:
    """The contacts that stand at a door-visit step of an open round whose start time has
    come (one query for the open rounds). With `state=pending` these are the door visits
    waiting: the one definition the visit list and the workload figures read."""
    rounds = Round.objects.filter(status=RoundStatus.OPEN).select_related("campaign")
    wanted = Q(pk__in=[])
    for round_ in rounds:
        plan = parse_plan(round_.campaign.plan, round_minutes=round_.campaign.round_minutes)
        # A visit step is listed from its own start time: a resident whose link arrived a
        # minute ago still has time to answer it.
        visit_steps = [i for i, s in enumerate(plan) if s.channel == ChannelName.VISIT
                       and round_.scheduled_for + timedelta(minutes=s.at) <= now]
        if visit_steps:
            wanted |= Q(round=round_, step__in=visit_steps)
    return wanted


def visits_waiting_by_grid(area: Area, *, now: datetime) -> dict[int, int]:
    """{grid id: door visits waiting} under `area` (no access check: the caller has
    passed the area's gate). Two queries, whatever the number of grids."""
    wanted = visit_waiting_q(now)
    rows = (Contact.objects.filter(area.scoped_rows_q(), wanted, state=ContactState.PENDING)
            .values("grid_id").annotate(n=Count("pk")).order_by())
    return {row["grid_id"]: row["n"] for row in rows}


def visit_list(user) -> list[Contact]:  # noqa: ANN001
    """Residents waiting for a door visit in the user's area, in walking order (building,
    unit, room), across the open rounds."""
    if not can(user, Can.HANDLE_ALERTS):
        return []
    wanted = visit_waiting_q(clock.now())
    return list(Contact.objects.filter(grid_scope_q(user), wanted, state=ContactState.PENDING)
                .select_related("resident", "resident__household",
                                "resident__household__building", "round", "round__campaign")
                .order_by("resident__household__building__estate",
                          "resident__household__building__number",
                          "resident__household__unit", "resident__household__room",
                          "resident_id")[:500])


def visit_contact_for_user(user, contact_id: int) -> Contact:  # noqa: ANN001
    if not can(user, Can.HANDLE_ALERTS):
        raise Http404
    contact = (Contact.objects.filter(grid_scope_q(user), pk=contact_id)
               .select_related("resident", "resident__household", "round", "round__campaign",
                               "round__campaign__area").first())
    if contact is None:
        raise Http404
    return contact
