"""Staff pages of the follow-up robot: alerts, door visits, campaigns and round tables.

The resident's own form lives with its channel (channels/web/views.py)."""

from __future__ import annotations

from datetime import date, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from fangkong.accounts.roles import Can, can
from fangkong.accounts.scope import area_scope_q, user_area
from fangkong.audit.models import AuditAction
from fangkong.audit.services import audit_record
from fangkong.followup import exports, robots, selectors, services, tables
from fangkong.followup.alerts import alert_resolve
from fangkong.followup.answers import contacts_answer, spec_of
from fangkong.followup.channels import registry
from fangkong.followup.channels.web.forms import AnswerForm
from fangkong.followup.models import AlertStatus, Contact, ContactState, Questionnaire
from fangkong.followup.robot_forms import RobotForm
from fangkong.followup.staff_forms import (
    CampaignForm,
    QuestionnaireForm,
    ResolveForm,
    RoundExportForm,
)
from fangkong.followup.targets import describe_target
from fangkong.lib import clock
from fangkong.places.models import Area, AreaKind
from fangkong.places.selectors import area_breadcrumbs, area_for_user
from fangkong.residents.forms import apply_errors


def _require(user, capability: Can) -> None:  # noqa: ANN001
    if not can(user, capability):
        raise PermissionDenied


@login_required
@require_GET
def alert_list(request: HttpRequest) -> HttpResponse:
    """The short list on the grid worker's phone: open alerts, their own first."""
    _require(request.user, Can.VIEW_REGISTRY)
    status = AlertStatus.RESOLVED if request.GET.get("show") == "resolved" else AlertStatus.OPEN
    alerts = selectors.alert_list(request.user, status=status)
    return render(request, "followup/alerts.html", {
        "alerts": alerts, "status": status, "now": clock.now(),
        "my_area": user_area(request.user)})


@login_required
@require_http_methods(["GET", "POST"])
def alert_detail(request: HttpRequest, alert_id: int) -> HttpResponse:
    alert = selectors.alert_for_user(request.user, alert_id)
    form = ResolveForm(request.POST or None)
    if request.method == "POST":
        _require(request.user, Can.HANDLE_ALERTS)
        if form.is_valid():
            try:
                alert_resolve(alert=alert, by=request.user, outcome=form.cleaned_data["outcome"],
                              note=form.cleaned_data["note"])
            except ValidationError as exc:
                apply_errors(form, exc.message_dict)
            else:
                messages.success(request, _("Alert resolved."))
                return redirect("followup:alerts")
    history = alert.resident.alerts.exclude(pk=alert.pk).order_by("-created_at")[:20]
    return render(request, "followup/alert.html", {
        "alert": alert, "form": form, "history": history, "now": clock.now(),
        "can_resolve": can(request.user, Can.HANDLE_ALERTS)})


@login_required
@require_GET
def visit_list(request: HttpRequest) -> HttpResponse:
    """Residents nobody reached by message or call, in walking order."""
    _require(request.user, Can.HANDLE_ALERTS)
    return render(request, "followup/visits.html",
                  {"contacts": selectors.visit_list(request.user)})


@login_required
@require_http_methods(["GET", "POST"])
def visit_record(request: HttpRequest, contact_id: int) -> HttpResponse:
    """The doorstep form: the worker records the resident's answers (or that nobody was
    home, which leaves the resident on the list until the round closes)."""
    contact = selectors.visit_contact_for_user(request.user, contact_id)
    round_ = contact.round
    if contact.state != ContactState.PENDING or round_.closes_at <= clock.now():
        messages.info(request, _("This resident has been dealt with already."))
        return redirect("followup:visits")
    spec = spec_of(round_.campaign.version_id)
    form = AnswerForm(request.POST or None, spec=spec)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            locked = (Contact.objects.select_for_update().select_related("round",
                                                                         "round__campaign")
                      .get(pk=contact.pk))
            if locked.state == ContactState.PENDING:
                contacts_answer([(locked, form.answers, "visit")])
                audit_record(by=request.user, action=AuditAction.VISIT_RECORD,
                             object_type="contact", object_id=locked.pk,
                             object_label=contact.resident.name,
                             area_path=contact.resident.grid.path, ip=_ip(request))
        messages.success(request, _("Answers recorded for %(name)s.") % {
            "name": contact.resident.name})
        return redirect("followup:visits")
    return render(request, "followup/visit.html", {"contact": contact, "form": form})


@login_required
@require_GET
def campaign_list(request: HttpRequest) -> HttpResponse:
    _require(request.user, Can.VIEW_REGISTRY)
    campaigns = (selectors.campaigns_for_user(request.user)
                 .select_related("area", "version__questionnaire").order_by("-created_at")[:100])
    return render(request, "followup/campaigns.html", {
        "campaigns": campaigns, "can_manage": can(request.user, Can.MANAGE_CAMPAIGNS)})


def _channel_state(channel: str) -> str:
    """"real", "simulated" or "missing" (nothing behind it: its steps are skipped)."""
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
    _require(user, Can.MANAGE_CAMPAIGNS)
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


def _ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR")


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
                                            ip=_ip(request))
    else:
        export = exports.export_round_residents(by=request.user, round_=round_, area=area,
                                                which=data["what"], fmt=data["format"],
                                                full=data["full"], ip=_ip(request))
    return FileResponse(export.file, as_attachment=True, filename=export.filename,
                        content_type=export.content_type)


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
                                        title_when=f"{day:%Y-%m-%d}", fmt=fmt, ip=_ip(request))
    return FileResponse(export.file, as_attachment=True, filename=export.filename,
                        content_type=export.content_type)


@login_required
@require_GET
def resident_record(request: HttpRequest, resident_id: int) -> HttpResponse:
    """One resident's follow-up history: rounds and answers, alerts and what was done,
    isolation periods. The history stays with the resident across campaigns."""
    from fangkong.isolation.selectors import periods_for_user
    from fangkong.residents.selectors import resident_for_user

    resident = resident_for_user(request.user, resident_id)
    # Health answers are more than the registry: who read them is recorded.
    audit_record(by=request.user, action=AuditAction.HEALTH_VIEW, object_type="resident",
                 object_id=resident.pk, object_label=resident.name,
                 area_path=resident.grid.path, ip=_ip(request))
    contacts = list(resident.contacts.select_related("round", "round__campaign")
                    .order_by("-round__scheduled_for")[:30])
    for contact in contacts:
        spec = spec_of(contact.round.campaign.version_id)
        contact.shown = [(spec.question(k).label,
                          _display(spec.question(k), v[0] if isinstance(v, list) else v))
                         for k, v in contact.answers.items() if _known(spec, k)]
    alerts = list(resident.alerts.select_related("resolved_by", "assigned_area")
                  .order_by("-created_at")[:50])
    periods = list(periods_for_user(request.user).filter(resident=resident)
                   .order_by("-starts_on"))
    return render(request, "followup/resident.html", {
        "resident": resident, "contacts": contacts, "alerts": alerts, "periods": periods,
        "breadcrumbs": area_breadcrumbs(request.user, resident.grid)})


def _display(question, value):  # noqa: ANN001, ANN202
    """An answer as the form showed it: option labels rather than their codes."""
    labels = {o.value: o.label for o in question.options}
    if isinstance(value, list):
        return "、".join(labels.get(v, v) for v in value) or _("none")
    return labels.get(value, value) if isinstance(value, str) else value


def _known(spec, key: str) -> bool:  # noqa: ANN001
    try:
        spec.question(key)
    except KeyError:
        return False
    return True


def _robot_page(request: HttpRequest, form: RobotForm | None = None) -> HttpResponse:
    area = user_area(request.user)
    robot = robots.robot_of(area)
    usable = area is not None and area.kind in robots.ROBOT_AREA_KINDS
    if form is None:
        form = RobotForm(initial=RobotForm.initial_for(robot))
    return render(request, "followup/robot.html", {
        "area": area, "robot": robot, "form": form, "usable": usable,
        "masked_url": robots.robot_masked_url(robot) if robot else "",
        "has_secret": bool(robot and robot.secret_sealed),
        "error_help": robots.robot_error_help(robot.last_error) if robot else ""})


@login_required
@require_http_methods(["GET", "POST"])
def robot_settings(request: HttpRequest) -> HttpResponse:
    """The WeCom / DingTalk group robot of the user's own community or street."""
    user = request.user
    _require(user, Can.MANAGE_CAMPAIGNS)
    if request.method != "POST":
        return _robot_page(request)
    area = user_area(user)
    form = RobotForm(request.POST)
    if form.is_valid() and area is not None and area.kind in robots.ROBOT_AREA_KINDS:
        try:
            robots.robot_configure(by=user, area=area, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc.message_dict)
        else:
            messages.success(request, _("Group robot saved. Send a test message to check it."))
            return redirect("followup:robot")
    return _robot_page(request, form)


@login_required
@require_POST
def robot_test(request: HttpRequest) -> HttpResponse:
    """Send a test message to the group now; the page shows whether it arrived."""
    _require(request.user, Can.MANAGE_CAMPAIGNS)
    robot = robots.robot_of(user_area(request.user))
    if robot is None:
        messages.error(request, _("Set up the group robot first."))
    else:
        result = robots.robot_test(by=request.user, robot=robot)
        if result.ok:
            messages.success(request, _("Test message sent: check the group chat."))
        else:
            messages.error(request, _("The test message did not arrive."))
    return _robot_page(request)


def _questionnaires_for(user):  # noqa: ANN001, ANN202
    """The shipped questionnaires and those of the user's area and the areas around it."""
    if not can(user, Can.VIEW_REGISTRY):
        return Questionnaire.objects.none()
    return (Questionnaire.objects.filter(area__isnull=True)
            | Questionnaire.objects.filter(area__in=Area.objects.filter(area_scope_q(user)))
            | Questionnaire.objects.filter(area__path__in=(user_area(user).ancestor_paths()
                                                           if user_area(user) else [])))


def _questionnaire_for_user(user, questionnaire_id: int) -> Questionnaire:  # noqa: ANN001
    found = _questionnaires_for(user).select_related("area").filter(pk=questionnaire_id).first()
    if found is None:
        raise Http404
    return found


@login_required
@require_GET
def questionnaire_list(request: HttpRequest) -> HttpResponse:
    _require(request.user, Can.VIEW_REGISTRY)
    questionnaires = _questionnaires_for(request.user).select_related("area").order_by(
        "area_id", "name")
    return render(request, "followup/questionnaires.html", {
        "questionnaires": questionnaires,
        "can_manage": can(request.user, Can.MANAGE_CAMPAIGNS)})


@login_required
@require_GET
def questionnaire_detail(request: HttpRequest, questionnaire_id: int) -> HttpResponse:
    questionnaire = _questionnaire_for_user(request.user, questionnaire_id)
    version = questionnaire.versions.order_by("-number").first()
    spec = spec_of(version.pk)
    from fangkong.followup.answers import rules_of

    return render(request, "followup/questionnaire.html", {
        "questionnaire": questionnaire, "version": version, "spec": spec,
        "rules": rules_of(version.pk), "versions": list(questionnaire.versions.all()),
        "can_manage": can(request.user, Can.MANAGE_CAMPAIGNS)})


@login_required
@require_http_methods(["GET", "POST"])
def questionnaire_edit(request: HttpRequest, questionnaire_id: int | None = None) -> HttpResponse:
    """A new questionnaire (or a copy, ?copy=id), or a new version of one of the area's."""
    import json

    user = request.user
    questionnaire = (_questionnaire_for_user(user, questionnaire_id)
                     if questionnaire_id is not None else None)
    _require(user, Can.MANAGE_CAMPAIGNS)
    source = questionnaire
    if source is None and (request.GET.get("copy") or "").isdigit():
        source = _questionnaire_for_user(user, int(request.GET["copy"]))
    initial = {}
    if source is not None:
        latest = source.versions.order_by("-number").first()
        initial = {"name": source.name if questionnaire else _("Copy of %(name)s") % {
            "name": source.name}, "description": source.description,
                   "spec": json.dumps(latest.spec, ensure_ascii=False, indent=2)}
    form = QuestionnaireForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            version = services.questionnaire_save(
                by=user, questionnaire=questionnaire, name=data["name"],
                description=data["description"], spec=data["spec"])
        except ValidationError as exc:
            apply_errors(form, exc.message_dict)
        else:
            messages.success(request, _("Questionnaire saved (version %(n)d).")
                             % {"n": version.number})
            return redirect("followup:questionnaire", version.questionnaire_id)
    return render(request, "followup/questionnaire_edit.html",
                  {"form": form, "questionnaire": questionnaire})
