"""The workers' errand pages: the community queue, one errand (assign, move along, hand
over, cancel, fail), its door photo, and asking for an errand on a resident's behalf."""

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
from fangkong.errands import selectors, services
from fangkong.errands.forms import AssignForm, ErrandForm, ReasonForm
from fangkong.errands.models import ErrandKind, ErrandStatus, HandoverPhoto
from fangkong.errands.resident_links import resident_link
from fangkong.lib import clock
from fangkong.lib.http import posted_id
from fangkong.residents.forms import apply_errors


def _require_handler(request: HttpRequest) -> None:
    if not can(request.user, Can.HANDLE_ERRANDS):
        raise PermissionDenied


@login_required
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    """The open errands of the user's area, most urgent and longest waiting first."""
    _require_handler(request)
    data = selectors.queue(request.user, kind=request.GET.get("kind", ""),
                           status=request.GET.get("status", ""),
                           page=posted_id(request.GET.get("page")) or 1)
    now = clock.now()
    for errand in data.page:
        errand.overdue = selectors.is_overdue(errand, now)
    return render(request, "errands/queue.html", {
        "queue": data, "kinds": ErrandKind.choices,
        "statuses": [(s, ErrandStatus(s).label, data.counts[s]) for s in data.counts]})


@login_required
@require_http_methods(["GET", "POST"])
def errand_detail(request: HttpRequest, errand_id: int) -> HttpResponse:
    errand = selectors.errand_for_user(request.user, errand_id)
    if not services.may_handle(request.user, errand):
        # The helper it is given to works on the task page, which shows only what the
        # task needs.
        return redirect("errands:task", errand.pk)
    do = request.POST.get("do") if request.method == "POST" else None
    helpers = selectors.helper_suggestions(errand) if errand.is_open else []
    assign_form = AssignForm(request.POST if do == "assign" else None, helpers=helpers)
    reason_form = ReasonForm(request.POST if do in ("cancel", "fail") else None)
    if request.method == "POST":
        try:
            message = _act(request, errand, do, assign_form, reason_form)
        except ValidationError as exc:
            form = assign_form if do == "assign" else reason_form
            if do in ("assign", "cancel", "fail"):
                apply_errors(form, exc.message_dict)
            else:
                for text in exc.messages:
                    messages.error(request, text)
        else:
            if message:
                messages.success(request, message)
                return redirect("errands:errand", errand.pk)
    errand.overdue = selectors.is_overdue(errand)
    return render(request, "errands/errand.html", {
        "errand": errand, "items": list(errand.items.all()),
        "events": list(errand.events.select_related("by")),
        "assign_form": assign_form, "reason_form": reason_form, "helpers": helpers,
        "next_steps": [s for s in services.TRANSITIONS.get(errand.status, ())
                       if s in (ErrandStatus.BUYING, ErrandStatus.DELIVERING)
                       and not (s == ErrandStatus.BUYING
                                and errand.kind in services.NOTHING_TO_BUY)],
        "has_photo": HandoverPhoto.objects.filter(errand=errand).exists()})


def _act(request: HttpRequest, errand, do: str | None, assign_form: AssignForm,  # noqa: ANN001
         reason_form: ReasonForm) -> str | None:
    """One action of the errand page; the message to show, or None when a form is
    invalid (shown again with its errors)."""
    by = request.user
    if do == "assign":
        if not assign_form.is_valid():
            return None
        to = User.objects.get(pk=assign_form.cleaned_data["to"])
        services.errand_assign(errand=errand, to=to, by=by)
        return _("Given to %(name)s.") % {"name": to.display_name}
    if do in (ErrandStatus.BUYING, ErrandStatus.DELIVERING):
        services.errand_advance(errand=errand, to=do, by=by)
        return _("Now: %(status)s.") % {"status": ErrandStatus(do).label}
    if do == "delivered":
        services.errand_deliver(errand=errand, by=by, code=request.POST.get("code", ""))
        return _("Delivered.")
    if do in ("cancel", "fail"):
        if not reason_form.is_valid():
            return None
        reason = reason_form.cleaned_data["reason"]
        if do == "cancel":
            services.errand_cancel(errand=errand, by=by, reason=reason)
            return _("Cancelled.")
        services.errand_fail(errand=errand, by=by, reason=reason)
        return _("Marked as not possible; the resident sees why.")
    raise Http404


@login_required
@require_GET
def photo(request: HttpRequest, errand_id: int) -> HttpResponse:
    """The hand-over photo, for the errand's handlers and its helper."""
    errand = selectors.errand_for_user(request.user, errand_id)
    picture = HandoverPhoto.objects.filter(errand=errand).first()
    if picture is None:
        raise Http404
    response = HttpResponse(bytes(picture.data), content_type=picture.content_type)
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def errand_new(request: HttpRequest, resident_id: int) -> HttpResponse:
    """Ask for an errand on a resident's behalf (after a phone call or at the door). The
    gate answers 404 to anyone who does not handle the errands of the resident's area."""
    resident = selectors.resident_for_errand(request.user, resident_id)
    if request.POST.get("do") == "reset_links":
        services.resident_links_reset(resident=resident, by=request.user,
                                      ip=client_ip(request))
        messages.success(request, _("The old links no longer open the resident's page: give "
                                    "them the new link below."))
        return redirect("errands:new", resident.pk)
    form = ErrandForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            errand = services.errand_create(resident=resident, data=form.errand_input(),
                                            source=form.cleaned_data["source"],
                                            by=request.user)
        except ValidationError as exc:
            apply_errors(form, exc.message_dict)
        else:
            messages.success(request, _("Request recorded: it is in the queue."))
            return redirect("errands:errand", errand.pk)
    return render(request, "errands/new.html", {
        "resident": resident, "form": form, "link": resident_link(resident.pk)})
