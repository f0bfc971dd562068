"""Care pages: my difficulties (file, follow, rate), the handler's to-do list, one
difficulty, the figures of an area, and the designation of care officers."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from fangkong.accounts.models import User
from fangkong.accounts.roles import Can, can
from fangkong.audit.services import client_ip
from fangkong.care import selectors, services
from fangkong.care.forms import AssignForm, DesignateForm, FileForm, RateForm, ResolveForm
from fangkong.care.models import CareOfficer, DifficultyStatus
from fangkong.care.workload import open_warnings_for
from fangkong.lib import clock
from fangkong.residents.forms import apply_errors


def _mark_overdue(difficulties: list) -> list:  # noqa: ANN001
    now = clock.now()
    for d in difficulties:
        d.overdue = d.is_pending and d.due_at < now
    return difficulties


@login_required
@require_http_methods(["GET", "POST"])
def mine(request: HttpRequest) -> HttpResponse:
    """File a difficulty in a minute, and follow the ones filed before."""
    form = FileForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.difficulty_file(by=request.user, kind=data["kind"],
                                     details=data["details"], urgency=data["urgency"],
                                     confidential=data["confidential"])
        except ValidationError as exc:
            apply_errors(form, exc.message_dict)
        else:
            messages.success(request, _("Filed. You will see here who handles it."))
            return redirect("care:mine")
    return render(request, "care/mine.html", {
        "form": form, "difficulties": _mark_overdue(selectors.my_difficulties(request.user)),
        "has_street": request.user.area is not None and request.user.area.depth >= 2})


@login_required
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    """The pending difficulties the user may act on, the earliest deadline first."""
    return render(request, "care/inbox.html", {
        "difficulties": _mark_overdue(selectors.difficulties_to_handle(request.user)),
        "overloaded": open_warnings_for(request.user).count()})


@login_required
@require_http_methods(["GET", "POST"])
def difficulty_detail(request: HttpRequest, difficulty_id: int) -> HttpResponse:
    difficulty = selectors.difficulty_for_user(request.user, difficulty_id)
    handler = difficulty.is_pending and selectors.may_handle(request.user, difficulty)
    rater = (difficulty.filed_by_id == request.user.pk
             and difficulty.status == DifficultyStatus.RESOLVED)
    do = request.POST.get("do")
    posted = request.POST if request.method == "POST" else None
    assignees = selectors.assignees_for(difficulty) if handler else []
    assign_form = AssignForm(posted if do == "assign" else None, assignees=assignees)
    resolve_form = ResolveForm(posted if do == "resolve" else None)
    rate_form = RateForm(posted if do == "rate" else None)
    if request.method == "POST":
        if do == "rate" and not rater or do != "rate" and not handler:
            raise PermissionDenied
        form = {"assign": assign_form, "resolve": resolve_form, "rate": rate_form}.get(do)
        try:
            if do == "acknowledge":
                services.difficulty_acknowledge(difficulty=difficulty, by=request.user)
                messages.success(request, _("Acknowledged: the filer sees that you have it."))
                return redirect("care:difficulty", difficulty.pk)
            if form is not None and form.is_valid():
                data = form.cleaned_data
                if form is assign_form:
                    to = User.objects.get(pk=data["to"])
                    services.difficulty_assign(difficulty=difficulty, to=to, by=request.user)
                    messages.success(request, _("Given to %(name)s.") % {
                        "name": to.display_name})
                elif form is resolve_form:
                    services.difficulty_resolve(difficulty=difficulty, by=request.user,
                                                resolution=data["resolution"])
                    messages.success(request, _("Resolved. The filer will rate it."))
                else:
                    services.difficulty_rate(difficulty=difficulty, by=request.user,
                                             rating=data["rating"], comment=data["comment"])
                    messages.success(request, _("Thank you for your rating."))
                return redirect("care:difficulty", difficulty.pk)
        except ValidationError as exc:
            if form is None:
                messages.error(request, " ".join(exc.messages))
            else:
                apply_errors(form, exc.message_dict)
    services.difficulty_read_audit(difficulty=difficulty, by=request.user,
                                   ip=client_ip(request))
    _mark_overdue([difficulty])
    return render(request, "care/difficulty.html", {
        "d": difficulty, "handler": handler, "rater": rater, "assign_form": assign_form,
        "resolve_form": resolve_form, "rate_form": rate_form,
        "mine": difficulty.filed_by_id == request.user.pk})


@login_required
@require_GET
def area_dashboard(request: HttpRequest, area_id: int) -> HttpResponse:
    """Counts, overdue items and themes of an area: never a confidential detail."""
    area = selectors.area_for_figures(request.user, area_id)
    figures = selectors.area_figures(area)
    top = max((n for _label, n in figures.by_kind), default=0)
    return render(request, "care/area.html", {"area": area, "figures": figures,
                                              "top": top or 1})


@login_required
@require_GET
def officers(request: HttpRequest) -> HttpResponse:
    if not can(request.user, Can.DESIGNATE_CARE_OFFICERS):
        raise PermissionDenied
    streets = selectors.streets_for_designation(request.user)
    return render(request, "care/officers.html", {"streets": streets})


@login_required
@require_http_methods(["GET", "POST"])
def street_officers(request: HttpRequest, street_id: int) -> HttpResponse:
    street = selectors.street_for_designation(request.user, street_id)
    staff = selectors.staff_of_street(street)
    form = DesignateForm(request.POST if request.POST.get("do") == "add" else None,
                         staff=staff)
    if request.method == "POST":
        if request.POST.get("do") == "remove":
            officer = CareOfficer.objects.filter(street=street,
                                                 pk=request.POST.get("officer") or 0).first()
            if officer is None:
                raise Http404
            services.care_officer_remove(officer=officer, by=request.user)
            messages.success(request, _("Designation ended."))
            return redirect("care:street_officers", street.pk)
        if form.is_valid():
            user = staff.get(pk=form.cleaned_data["user"])
            try:
                services.care_officer_designate(street=street, user=user, by=request.user)
            except ValidationError as exc:
                apply_errors(form, exc.message_dict)
            else:
                messages.success(request, _("%(name)s is now a care officer of %(street)s.")
                                 % {"name": user.display_name, "street": street.name})
                return redirect("care:street_officers", street.pk)
    return render(request, "care/street_officers.html", {
        "street": street, "officers": selectors.officers_of(street), "form": form})
