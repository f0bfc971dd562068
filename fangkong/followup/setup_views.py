"""Setting the follow-up up: questionnaires (copied and changed into new versions) and
the area's chat-group robot."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from fangkong.accounts.roles import Can, can
from fangkong.accounts.scope import area_scope_q, user_area
from fangkong.followup import robots, services
from fangkong.followup.answers import spec_of
from fangkong.followup.models import Questionnaire
from fangkong.followup.robot_forms import RobotForm
from fangkong.followup.staff_forms import (
    QuestionnaireForm,
)
from fangkong.followup.views import require_capability
from fangkong.places.models import Area
from fangkong.residents.forms import apply_errors


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
    require_capability(user, Can.MANAGE_CAMPAIGNS)
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
    require_capability(request.user, Can.MANAGE_CAMPAIGNS)
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
    require_capability(request.user, Can.VIEW_REGISTRY)
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
    require_capability(user, Can.MANAGE_CAMPAIGNS)
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
