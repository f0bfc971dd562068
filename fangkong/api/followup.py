"""The follow-up robot over the API: campaigns and their rounds, the round table of an
area, alerts (list, resolve) and isolation periods (list, start).

Scoped exactly as the pages: campaigns of the caller's area, of the areas below it and of
the areas above that reach into it; alerts and periods of the residents in the caller's
area. Every endpoint goes: role gate (403), access gate (404 outside the caller's area),
one selector or service call (400 when the service refuses the input). Residents appear
with their id, name and address as staff see them in the alert list: never a phone.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from django.core.exceptions import PermissionDenied
from django.db.models import TextChoices
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from pydantic import WithJsonSchema

from fangkong.accounts.roles import Can, can
from fangkong.accounts.scope import user_area
from fangkong.api.auth import actor, require_registry
from fangkong.api.schemas import CHOICE_MAX, AreaRef, clean_str, errors
from fangkong.followup import alerts, selectors, tables
from fangkong.followup.models import AlertOutcome, AlertStatus, Campaign, Round
from fangkong.followup.targets import describe_target
from fangkong.isolation import services as isolation
from fangkong.isolation.models import IsolationPeriod, PeriodKind, PeriodStatus
from fangkong.isolation.selectors import periods_for_user
from fangkong.lib import clock
from fangkong.places.selectors import area_for_user
from fangkong.residents.selectors import resident_for_user

if TYPE_CHECKING:
    from fangkong.accounts.models import User
    from fangkong.places.models import Area

router = Router(tags=["follow-up"])

CAMPAIGN_PAGE = 50
CAMPAIGN_ROUNDS = 30  # the last rounds shown with a campaign, as on its page
LIST_DEFAULT = 200
LIST_MAX = 500


def _choice(choices: type[TextChoices]) -> Any:
    # The allowed values are documented; the service checks them (400, translated).
    schema = {"type": "string", "enum": list(choices.values), "maxLength": CHOICE_MAX}
    return Annotated[clean_str(CHOICE_MAX), WithJsonSchema(schema)]


OutcomeValue = _choice(AlertOutcome)
NoteText = clean_str(300, multiline=True)
PeriodKindValue = _choice(PeriodKind)
ReasonText = clean_str(200)
PlaceText = clean_str(100)


# Schemas ----------------------------------------------------------------------------------


class QuestionnaireRef(Schema):
    id: int
    name: str
    version: int


class CampaignOut(Schema):
    id: int
    name: str
    purpose: str
    status: str = Field(description="draft, running, paused or finished")
    area: AreaRef
    questionnaire: QuestionnaireRef
    target: dict[str, Any] = Field(description="tags, isolation, age_min, age_max; empty = "
                                               "every resident living in the area")
    times: list[str] = Field(description="local times of the rounds, HH:MM")
    weekdays: list[int] = Field(description="0 = Monday; empty = every day")
    starts_on: date
    ends_on: date | None
    round_minutes: int
    plan: list[dict[str, Any]] = Field(description="the channels in order, each with the "
                                                   "minutes after the round opens (`at`)")
    created_at: datetime
    started_at: datetime | None
    next_round_at: datetime | None

    @staticmethod
    def resolve_questionnaire(obj: Campaign) -> dict[str, Any]:
        return {"id": obj.version.questionnaire_id, "name": obj.version.questionnaire.name,
                "version": obj.version.number}


class CampaignPage(Schema):
    items: list[CampaignOut]
    next_before: int | None = Field(description="Pass as `before` for the next page.")


class RoundOut(Schema):
    id: int
    campaign_id: int
    scheduled_for: datetime
    closes_at: datetime
    status: str = Field(description="open or closed")
    targeted: int
    opened_at: datetime | None
    closed_at: datetime | None


class CampaignDetail(CampaignOut):
    target_text: str = Field(description="who is asked, in words")
    rounds: list[RoundOut] = Field(description=f"the last {CAMPAIGN_ROUNDS}, newest first")

    @staticmethod
    def resolve_target_text(obj: Campaign) -> str:
        return describe_target(obj.target)

    @staticmethod
    def resolve_rounds(obj: Campaign) -> list[Round]:
        return list(obj.rounds.order_by("-scheduled_for")[:CAMPAIGN_ROUNDS])


class TableRowOut(Schema):
    area_id: int
    name: str
    targeted: int
    answered: int
    by_channel: dict[str, int] = Field(description="answered per channel: web, sms, voice, "
                                                   "visit")
    pending: int
    unreached: int
    opted_out: int
    abnormal: int
    high: int
    alerts_open: int
    alerts_resolved: int
    by_rule: dict[str, int] = Field(description="alert title -> alerts raised by that rule")
    reached_pct: int
    done_pct: int

    @staticmethod
    def resolve_by_channel(obj: tables.Row) -> dict[str, int]:
        return {channel: obj.by_channel.get(channel, 0) for channel in tables.CHANNELS}


class RoundTableOut(Schema):
    round: RoundOut
    area: AreaRef
    rows: list[TableRowOut] = Field(description="one per area one level down (per grid "
                                                "for a grid)")
    total: TableRowOut


class ResidentBrief(Schema):
    id: int
    name: str
    household_label: str

    @staticmethod
    def resolve_household_label(obj: Any) -> str:
        return obj.household.label


class AlertOut(Schema):
    id: int
    kind: str = Field(description="rule, unreached or notice")
    status: str = Field(description="open or resolved")
    severity: str = Field(description="high, medium or low")
    title: str
    reason: str
    resident: ResidentBrief
    grid: AreaRef
    assigned_area: AreaRef = Field(description="who must act: the grid, or an area above "
                                               "it once the deadline has passed")
    level: int
    campaign_id: int | None
    created_at: datetime
    due_at: datetime | None
    overdue: bool
    outcome: str
    note: str
    resolved_at: datetime | None

    @staticmethod
    def resolve_overdue(obj: Any) -> bool:
        return (obj.status == AlertStatus.OPEN and obj.due_at is not None
                and obj.due_at < clock.now())


class AlertList(Schema):
    items: list[AlertOut]
    more: bool = Field(description="more alerts than `limit` exist")


class ResolveIn(Schema):
    outcome: OutcomeValue
    note: NoteText = ""


class PeriodOut(Schema):
    id: int
    resident: ResidentBrief
    grid: AreaRef
    kind: str = Field(description="isolation or monitoring")
    status: str = Field(description="open or ended")
    starts_on: date
    planned_end: date
    ended_on: date | None
    end_reason: str
    reason: str
    place: str
    created_at: datetime

    @staticmethod
    def resolve_grid(obj: IsolationPeriod) -> Any:
        return obj.resident.grid


class PeriodList(Schema):
    items: list[PeriodOut]
    more: bool = Field(description="more periods than `limit` exist")


class PeriodIn(Schema):
    """A new period for a resident of the caller's area; the planned end defaults to 14
    days including the first."""

    resident_id: int
    kind: PeriodKindValue
    starts_on: date
    planned_end: date | None = None
    reason: ReasonText
    place: PlaceText = ""


# Gates ------------------------------------------------------------------------------------


def _handler(request: HttpRequest, refusal: str) -> User:
    """The caller, when their role handles alerts and isolation: 403 otherwise, before any
    id is looked up."""
    user = actor(request)
    if not can(user, Can.HANDLE_ALERTS):
        raise PermissionDenied(refusal)
    return user


def _table_area(user: User, campaign_area: Area, area_id: int | None) -> Area:
    """The area a table is for, as on the round page: `area_id` (inside the caller's
    area, else 404), else the campaign's area when the caller sees all of it, else the
    caller's own area."""
    if area_id is not None:
        return area_for_user(user, area_id)
    home = user_area(user)
    if user.is_superuser or home is None or campaign_area.path == home.path \
            or campaign_area.path.startswith(home.path + "."):
        return campaign_area
    return home


# Campaigns and rounds ---------------------------------------------------------------------


@router.get("/followup/campaigns", response={200: CampaignPage, **errors(401, 403, 422)})
def campaign_list(request: HttpRequest, before: int | None = None,
                  limit: int = Query(CAMPAIGN_PAGE, ge=1, le=200)) -> dict[str, Any]:
    """The campaigns of the caller's area, of the areas below it and of the areas above
    it that reach into it; newest first. Pass `next_before` back as `before` for the next
    page."""
    user = actor(request)
    require_registry(user)
    campaigns = (selectors.campaigns_for_user(user)
                 .select_related("area", "version__questionnaire").order_by("-pk"))
    if before is not None:
        campaigns = campaigns.filter(pk__lt=before)
    rows = list(campaigns[:limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": rows, "next_before": rows[-1].pk if more else None}


@router.get("/followup/campaigns/{campaign_id}",
            response={200: CampaignDetail, **errors(401, 403, 404, 422)})
def campaign_detail(request: HttpRequest, campaign_id: int) -> Campaign:
    """A campaign with its last rounds."""
    user = actor(request)
    require_registry(user)
    return selectors.campaign_for_user(user, campaign_id)


@router.get("/followup/rounds/{round_id}/table",
            response={200: RoundTableOut, **errors(401, 403, 404, 422)})
def round_table(request: HttpRequest, round_id: int,
                area_id: int | None = None) -> dict[str, Any]:
    """The round's table (日报表) for an area of the caller's (`area_id`, 404 outside it;
    by default the campaign's area when the caller sees all of it, else the caller's own
    area): one row per area one level down, and the total. Live while the round runs."""
    user = actor(request)
    require_registry(user)
    round_ = selectors.round_for_user(user, round_id)
    area = _table_area(user, round_.campaign.area, area_id)
    rows, total = tables.round_table([round_], area)
    return {"round": round_, "area": area, "rows": rows, "total": total}


# Alerts -----------------------------------------------------------------------------------


@router.get("/followup/alerts", response={200: AlertList, **errors(401, 403, 422)})
def alert_list(request: HttpRequest, status: Literal["open", "resolved"] = "open",
               limit: int = Query(LIST_DEFAULT, ge=1, le=LIST_MAX)) -> dict[str, Any]:
    """The alerts of the caller's area, as in the alert list: open ones with those
    assigned to the caller's own area first, then by severity and deadline; resolved ones
    newest first."""
    user = actor(request)
    require_registry(user)
    rows = selectors.alert_list(user, status=status, limit=limit + 1)
    return {"items": rows[:limit], "more": len(rows) > limit}


@router.post("/followup/alerts/{alert_id}/resolve",
             response={200: AlertOut, **errors(400, 401, 403, 404, 422)})
def alert_resolve(request: HttpRequest, alert_id: int, payload: ResolveIn) -> Any:
    """Close an alert with what was done (`note` is required for `other`). Refused (400)
    when it was resolved already."""
    user = _handler(request, _("Your role cannot resolve alerts."))
    alert = selectors.alert_for_user(user, alert_id)
    alerts.alert_resolve(alert=alert, by=user, outcome=payload.outcome, note=payload.note)
    return selectors.alert_for_user(user, alert_id)


# Isolation --------------------------------------------------------------------------------


@router.get("/followup/isolation", response={200: PeriodList, **errors(401, 403, 422)})
def period_list(request: HttpRequest, status: Literal["open", "ended"] = "open",
                limit: int = Query(LIST_DEFAULT, ge=1, le=LIST_MAX)) -> dict[str, Any]:
    """Isolation and health-monitoring periods of the caller's residents: open ones
    ending first on top, ended ones the latest ended first."""
    user = actor(request)
    require_registry(user)
    order = (("planned_end", "pk") if status == PeriodStatus.OPEN
             else ("-ended_on", "-pk"))
    periods = (periods_for_user(user).filter(status=status)
               .select_related("resident", "resident__household", "resident__grid")
               .order_by(*order))
    rows = list(periods[:limit + 1])
    return {"items": rows[:limit], "more": len(rows) > limit}


@router.post("/followup/isolation",
             response={201: PeriodOut, **errors(400, 401, 403, 404, 422)})
def period_start(request: HttpRequest, payload: PeriodIn) -> Status[IsolationPeriod]:
    """Start a period for a resident of the caller's area (404 otherwise). One open period
    per resident: a second one is refused (400)."""
    user = _handler(request, _("Your role cannot record isolation periods."))
    resident = resident_for_user(user, payload.resident_id)
    period = isolation.isolation_start(
        resident=resident, kind=payload.kind, starts_on=payload.starts_on,
        planned_end=payload.planned_end, reason=payload.reason, place=payload.place, by=user)
    period = (periods_for_user(user)
              .select_related("resident", "resident__household", "resident__grid")
              .get(pk=period.pk))
    return Status(201, period)
