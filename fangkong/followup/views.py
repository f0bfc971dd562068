"""Staff pages of the follow-up robot: campaigns, and the round and daily tables with
their downloads. Alerts, door visits and a resident's record are in alert_views.py;
questionnaires and the chat-group robot in setup_views.py; the resident's own form lives
with its channel (channels/web/views.py)."""

from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from fangkong.accounts.roles import Can, can
from fangkong.accounts.scope import area_scope_q, user_area
from fangkong.audit.services import client_ip
from fangkong.followup import exports, selectors, services, tables
from fangkong.followup.channels import registry
from fangkong.followup.dispatch import calls_attended
from fangkong.followup.models import Questionnaire
from fangkong.followup.staff_forms import (
    CampaignForm,
    RoundExportForm,
)
from fangkong.followup.targets import describe_target
from fangkong.lib import clock
from fangkong.places.models import Area, AreaKind
from fangkong.places.selectors import area_breadcrumbs, area_for_user
from fangkong.residents.forms import apply_errors


def require_capability(user, capability: Can) -> None:  # noqa: ANN001
    if not can(user, capability):
        raise PermissionDenied


@login_required
@require_GET
def campaign_list(request: HttpRequest) -> HttpResponse:
    require_capability(request.user, Can.VIEW_REGISTRY)
    campaigns = (selectors.campaigns_for_user(request.user)
                 .select_related("area", "version__questionnaire").order_by("-created_at")[:100])
    return render(request, "followup/campaigns.html", {
        "campaigns": campaigns, "can_manage": can(request.user, Can.MANAGE_CAMPAIGNS)})


def _channel_state(channel: str) -> str:
    """"real", "simulated" or "missing" (nothing behind it: its steps are skipped); robot
    calls over a trunk are "offline" while no line machine is making them."""
    if channel == "voice" and settings.SIP_TRUNK and not calls_attended():
        return "offline"
    if registry.is_real(channel):
        return "real"
    return "simulated" if registry.is_simulated(channel) else "missing"


def _questionnaires(user) -> object:  # noqa: ANN001
    areas = Area.objects.filter(area_scope_q(user)) if not user.is_superuser else Area.objects
    return Questionnaire.objects.filter(area__isnull=True) | Questionnaire.objects.filter(
        area__in=areas.all())


@login_required
@require_http_methods(["GET", "POST"])
def campaign_new(request: HttpRequest) -> HttpResponse:
    user = request.user
    require_capability(user, Can.MANAGE_CAMPAIGNS)
    area = user_area(user)
    initial = {"starts_on": clock.local_today()}
    form = CampaignForm(request.POST or None, initial=initial,
                        questionnaires=_questionnaires(user))
    if request.method == "POST" and form.is_valid() and area is not None:
        data = form.cleaned_data
        target = {"tags": [t.slug for t in data["tags"]], "isolation": data["isolation"],
                  "age_min": data["age_min"], "age_max": data["age_max"]}
        try:
            campaign = services.campaign_create(by=user, data=services.CampaignInput(
                name=data["name"], purpose=data["purpose"], area=area,
                version=form.latest_version(), times=data["times"].replace("，", " ").split(),
                weekdays=data["weekdays"], starts_on=data["starts_on"], ends_on=data["ends_on"],
                target=target, round_minutes=data["round_minutes"], plan=form.plan(),
                quiet_calls=[f"{data['quiet_calls_from']:%H:%M}", f"{data['quiet_calls_to']:%H:%M}"],
                quiet_sms=[f"{data['quiet_sms_from']:%H:%M}", f"{data['quiet_sms_to']:%H:%M}"],
                capacity={"voice": data["voice_lines"], "sms": data["sms_rate"],
                          "web": data["sms_rate"]},
                proxy_answering=data["proxy_answering"]))
        except ValidationError as exc:
            errors = dict(exc.message_dict)
            if "plan" in errors:
                errors["step1"] = errors.pop("plan")
            if "target" in errors:
                errors["tags"] = errors.pop("target")
            apply_errors(form, errors)
        else:
            messages.success(request, _("Campaign saved. Check it, then start it."))
            return redirect("followup:campaign", campaign.pk)
    return render(request, "followup/campaign_new.html", {
        "form": form, "area": area,
        "channel_states": [(label, _channel_state(value)) for value, label
                           in form.fields["step2"].choices if value]})


@login_required
@require_GET
def campaign_detail(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = selectors.campaign_for_user(request.user, campaign_id)
    rounds = list(campaign.rounds.order_by("-scheduled_for")[:30])
    return render(request, "followup/campaign.html", {
        "campaign": campaign, "rounds": rounds, "target": describe_target(campaign.target),
        "steps": [(s, _channel_state(s["channel"])) for s in campaign.plan],
        "can_manage": can(request.user, Can.MANAGE_CAMPAIGNS)
        and Area.objects.filter(area_scope_q(request.user), pk=campaign.area_id).exists()})


@login_required
@require_POST
def campaign_run(request: HttpRequest, campaign_id: int, action: str) -> HttpResponse:
    if action not in ("start", "pause"):
        raise Http404
    campaign = selectors.campaign_for_user(request.user, campaign_id)
    if not Area.objects.filter(area_scope_q(request.user), pk=campaign.area_id).exists():
        raise PermissionDenied  # a campaign of an area above: theirs to run
    try:
        if action == "start":
            services.campaign_start(by=request.user, campaign=campaign)
            messages.success(request, _("Campaign started: rounds now open by themselves."))
        else:
            services.campaign_pause(by=request.user, campaign=campaign)
            messages.success(request, _("Campaign paused: nothing more is sent."))
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    return redirect("followup:campaign", campaign.pk)


def _table_area(request: HttpRequest, campaign_area: Area) -> Area:
    """The area a table is shown for: ?area= (inside the user's scope), else the campaign's
    area when the user sees all of it, else the user's own area."""
    area_id = request.GET.get("area") or request.POST.get("area")
    if area_id and str(area_id).isdigit():
        return area_for_user(request.user, int(area_id))
    home = user_area(request.user)
    if request.user.is_superuser or home is None or \
            campaign_area.path == home.path or campaign_area.path.startswith(home.path + "."):
        return campaign_area
    return home


@login_required
@require_GET
def round_table(request: HttpRequest, round_id: int) -> HttpResponse:
    """The round's table for the user's area (or an area below it, ?area=), live while
    the round runs (the page refreshes its table every few seconds with htmx)."""
    round_ = selectors.round_for_user(request.user, round_id)
    area = _table_area(request, round_.campaign.area)
    rows, total = tables.round_table([round_], area)
    context = {"round": round_, "campaign": round_.campaign, "area": area, "rows": rows,
               "total": total, "drill": area.kind != AreaKind.GRID,
               "breadcrumbs": area_breadcrumbs(request.user, area),
               "export_form": RoundExportForm(),
               "export_url": reverse("followup:round_export", args=[round_.pk])}
    template = ("followup/_round_table.html" if request.headers.get("HX-Request")
                else "followup/round.html")
    return render(request, template, context)


@login_required
@require_POST
def round_export(request: HttpRequest, round_id: int) -> HttpResponse:
    """Download the round's table or one of its lists (POST: a deliberate, audited act)."""
    round_ = selectors.round_for_user(request.user, round_id)
    area = _table_area(request, round_.campaign.area)
    form = RoundExportForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose what to export and the format."))
        return redirect("followup:round", round_.pk)
    data = form.cleaned_data
    when = f"{timezone.localtime(round_.scheduled_for):%Y-%m-%d %H:%M}"
    if data["what"] == "table":
        export = exports.export_round_table(by=request.user, rounds=[round_], area=area,
                                            title_when=when, fmt=data["format"],
                                            ip=client_ip(request))
    else:
        export = exports.export_round_residents(by=request.user, round_=round_, area=area,
                                                which=data["what"], fmt=data["format"],
                                                full=data["full"], ip=client_ip(request))
    return export.response()


def _day_rounds(campaign, day_text: str | None) -> tuple[date, list]:  # noqa: ANN001
    try:
        day = date.fromisoformat(day_text) if day_text else clock.local_today()
    except ValueError:
        day = clock.local_today()
    rounds = [r for r in campaign.rounds.all() if timezone.localdate(r.scheduled_for) == day]
    return day, rounds


@login_required
@require_GET
def day_table(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """The daily table (日报表): every round of the campaign on one day, per area."""
    campaign = selectors.campaign_for_user(request.user, campaign_id)
    day, rounds = _day_rounds(campaign, request.GET.get("date"))
    area = _table_area(request, campaign.area)
    rows, total = tables.round_table(rounds, area) if rounds else ([], tables.Row(area.pk,
                                                                                  area.name))
    return render(request, "followup/day.html", {
        "campaign": campaign, "day": day, "rounds": rounds, "area": area, "rows": rows,
        "total": total, "drill": area.kind != AreaKind.GRID,
        "previous": day - timedelta(days=1), "next": day + timedelta(days=1),
        "breadcrumbs": area_breadcrumbs(request.user, area)})


@login_required
@require_POST
def day_export(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = selectors.campaign_for_user(request.user, campaign_id)
    day, rounds = _day_rounds(campaign, request.POST.get("date"))
    area = _table_area(request, campaign.area)
    fmt = request.POST.get("format") if request.POST.get("format") in ("xlsx", "csv") else "xlsx"
    if not rounds:
        messages.error(request, _("No round ran on that day."))
        return redirect(f"{reverse('followup:day', args=[campaign.pk])}?date={day}")
    export = exports.export_round_table(by=request.user, rounds=rounds, area=area,
                                        title_when=f"{day:%Y-%m-%d}", fmt=fmt, ip=client_ip(request))
    return export.response()
