"""Writes of the follow-up robot that people make: campaigns and their life cycle.

Rounds, attempts and answers are written by the dispatcher (rounds.py, dispatch.py,
answers.py); alerts are resolved in alerts.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from fangkong.accounts.roles import Can, can
from fangkong.accounts.scope import area_scope_q, user_area
from fangkong.audit.models import AuditAction
from fangkong.audit.services import audit_record
from fangkong.followup.models import (
    Campaign,
    CampaignStatus,
    Questionnaire,
    QuestionnaireVersion,
)
from fangkong.followup.plan import PlanError, parse_plan
from fangkong.followup.questions import SpecError, parse_spec
from fangkong.followup.rounds import campaign_next_round
from fangkong.followup.schedule import overlapping, parse_times
from fangkong.followup.targets import clean_target, target_residents
from fangkong.lib import clock
from fangkong.lib.text import find_unsafe_char
from fangkong.places.models import Area, AreaKind


@dataclass
class CampaignInput:
    name: str
    purpose: str
    area: Area
    version: QuestionnaireVersion
    times: list[str]
    starts_on: date
    plan: list[dict[str, Any]]
    ends_on: date | None = None
    weekdays: list[int] = field(default_factory=list)
    target: dict[str, Any] = field(default_factory=dict)
    round_minutes: int = 360
    quiet_calls: list[str] = field(default_factory=lambda: ["21:00", "08:00"])
    quiet_sms: list[str] = field(default_factory=lambda: ["22:00", "07:00"])
    capacity: dict[str, Any] = field(default_factory=dict)
    proxy_answering: bool = True


def _check(data: CampaignInput, by) -> tuple[dict[str, list[str]], dict[str, Any]]:  # noqa: ANN001
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}

    def fail(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    for name, limit in (("name", 80), ("purpose", 300)):
        value = (getattr(data, name) or "").strip()
        if not value:
            fail(name, _("This field is required."))
        elif len(value) > limit:
            fail(name, _("Keep it under %(n)d characters.") % {"n": limit})
        elif find_unsafe_char(value) is not None:
            fail(name, _("This text holds characters that cannot be stored."))
        cleaned[name] = value
    if data.area.kind == AreaKind.GRID:
        fail("area", _("A campaign covers a community or more; choose the community and "
                       "narrow the target instead."))
    if not Area.objects.filter(area_scope_q(by), pk=data.area.pk).exists():
        fail("area", _("This area is outside your own."))
    if not 30 <= data.round_minutes <= 24 * 60:
        fail("round_minutes", _("A round stays open between 30 minutes and 24 hours."))
    try:
        times = parse_times(data.times)
        if overlapping(times, data.round_minutes):
            fail("times", _("A round would still be open when the next one starts: space the "
                            "times further apart or shorten the rounds."))
        cleaned["times"] = [t.strftime("%H:%M") for t in times]
    except ValueError as exc:
        fail("times", str(exc))
    if any(not isinstance(d, int) or not 0 <= d <= 6 for d in data.weekdays):
        fail("weekdays", _("Choose days of the week."))
    if data.ends_on is not None and data.ends_on < data.starts_on:
        fail("ends_on", _("The last day lies before the first."))
    try:
        parse_plan(data.plan, round_minutes=data.round_minutes)
    except PlanError as exc:
        errors.setdefault("plan", []).extend(exc.problems)
    for name in ("quiet_calls", "quiet_sms"):
        window = getattr(data, name)
        if window:
            try:
                parse_times(window)
                if len(window) != 2:
                    raise ValueError
            except ValueError:
                fail(name, _("Quiet hours are two times, like 21:00 and 08:00."))
    for channel, value in (data.capacity or {}).items():
        if channel not in ("web", "sms", "voice") or not isinstance(value, int | float) \
                or not 1 <= value <= 100_000:
            fail("capacity", _("Capacity is a number between 1 and 100000 per channel."))
    try:
        cleaned["target"] = clean_target(data.target)
    except ValueError as exc:
        fail("target", str(exc))
    return errors, cleaned


@transaction.atomic
def campaign_create(*, by, data: CampaignInput) -> Campaign:  # noqa: ANN001
    """Save a campaign as a draft after checking everything (all problems at once)."""
    if not can(by, Can.MANAGE_CAMPAIGNS):
        raise PermissionDenied(_("Your role cannot run follow-up campaigns."))
    errors, cleaned = _check(data, by)
    if errors:
        raise ValidationError(errors)
    campaign = Campaign.objects.create(
        name=cleaned["name"], purpose=cleaned["purpose"], area=data.area, version=data.version,
        target=cleaned["target"], times=cleaned["times"], weekdays=sorted(set(data.weekdays)),
        starts_on=data.starts_on, ends_on=data.ends_on, round_minutes=data.round_minutes,
        plan=data.plan, quiet_calls=data.quiet_calls, quiet_sms=data.quiet_sms,
        capacity=data.capacity, proxy_answering=data.proxy_answering, created_by=by)
    _audit_campaign(by, campaign, "created")
    return campaign


def _audit_campaign(by, campaign: Campaign, what: str) -> None:  # noqa: ANN001
    audit_record(by=by, action=AuditAction.CAMPAIGN_CHANGE, object_type="campaign",
                 object_id=campaign.pk, object_label=campaign.name,
                 area_path=campaign.area.path, changes={"status": ["", what]})


@transaction.atomic
def campaign_start(*, by, campaign: Campaign) -> Campaign:  # noqa: ANN001
    """Start (or resume) a campaign: its rounds open by themselves from now on. Refused
    when nobody would be asked."""
    if not can(by, Can.MANAGE_CAMPAIGNS):
        raise PermissionDenied(_("Your role cannot run follow-up campaigns."))
    locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if locked.status == CampaignStatus.FINISHED:
        raise ValidationError(_("This campaign has finished."))
    now = clock.now()
    if not target_residents(locked.area, locked.target, today=clock.local_today()).exists():
        raise ValidationError(_("Nobody matches this campaign's target today: check the area "
                                "and the filters."))
    nxt = campaign_next_round(locked, after=now)
    if nxt is None:
        raise ValidationError(_("No round is left to run: the last day has passed."))
    locked.status = CampaignStatus.RUNNING
    locked.started_at = locked.started_at or now
    locked.next_round_at = nxt
    locked.save(update_fields=["status", "started_at", "next_round_at"])
    _audit_campaign(by, locked, "started")
    return locked


@transaction.atomic
def campaign_pause(*, by, campaign: Campaign) -> Campaign:  # noqa: ANN001
    """Pause: no new rounds open and nothing more is sent; open rounds close as planned."""
    if not can(by, Can.MANAGE_CAMPAIGNS):
        raise PermissionDenied(_("Your role cannot run follow-up campaigns."))
    if Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.RUNNING).update(
            status=CampaignStatus.PAUSED):
        _audit_campaign(by, campaign, "paused")
    campaign.refresh_from_db()
    return campaign


@transaction.atomic
def questionnaire_save(*, by, name: str, spec: dict[str, Any], description: str = "",  # noqa: ANN001
                       questionnaire: Questionnaire | None = None) -> QuestionnaireVersion:
    """Save a questionnaire of the user's area: a new one, or a new version of one of
    theirs (campaigns already running keep the version they started with). The shipped
    questionnaires are not edited: copy one instead. Every problem of the spec is reported
    at once; an unchanged spec adds no version."""
    if not can(by, Can.MANAGE_CAMPAIGNS):
        raise PermissionDenied(_("Your role cannot run follow-up campaigns."))
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = [_("This field is required.")]
    elif len(name) > 80 or find_unsafe_char(name) is not None:
        errors["name"] = [_("Keep it under %(n)d characters of ordinary text.") % {"n": 80}]
    try:
        parse_spec(spec)
    except SpecError as exc:
        errors["spec"] = exc.problems
    area = user_area(by)
    if questionnaire is not None:
        if questionnaire.area_id is None:
            errors.setdefault("name", []).append(
                _("A questionnaire that comes with fangkong cannot be changed: copy it."))
        elif area is None or questionnaire.area_id != area.pk and not by.is_superuser:
            raise PermissionDenied(_("This questionnaire belongs to another area."))
    elif area is None:
        errors.setdefault("name", []).append(_("Your account has no area."))
    if errors:
        raise ValidationError(errors)
    if questionnaire is None:
        questionnaire = Questionnaire.objects.create(name=name, description=description[:300],
                                                     area=area)
    else:
        questionnaire.name, questionnaire.description = name, description[:300]
        questionnaire.save(update_fields=["name", "description"])
    latest = questionnaire.versions.order_by("-number").first()
    if latest is not None and latest.spec == spec:
        return latest
    version = QuestionnaireVersion.objects.create(
        questionnaire=questionnaire, number=(latest.number + 1) if latest else 1, spec=spec,
        created_by=by)
    audit_record(by=by, action=AuditAction.QUESTIONNAIRE_CHANGE, object_type="questionnaire",
                 object_id=questionnaire.pk, object_label=name,
                 area_path=questionnaire.area.path if questionnaire.area else "",
                 changes={"version": ["", version.number]})
    return version
