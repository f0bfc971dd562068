"""The workers' pass pages: a resident's pass and a household's pass, with the code, its
colour and reason, version and who issued it; issue, issue again (a new version: the
codes printed or saved before stop working, confirmed with a tick) and revoke with a
reason.

Access: the resident or household in the user's area (404 otherwise, before anything
else), then Can.ISSUE_PASSES (403).
"""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from fangkong.accounts.roles import Can, can
from fangkong.audit.services import client_ip
from fangkong.passes import services
from fangkong.passes.images import qr_data_uri, token_of
from fangkong.passes.models import Pass
from fangkong.passes.status import status_of_pass
from fangkong.places.selectors import area_breadcrumbs, household_for_user
from fangkong.residents.models import ResidentStatus
from fangkong.residents.selectors import resident_for_user, residents_for_user


class ReissueForm(forms.Form):
    confirm = forms.BooleanField(
        label=gettext_lazy("I understand: the codes printed or saved before stop working, "
                           "and the resident needs the new card or picture."),
        error_messages={"required": gettext_lazy("Tick the box to confirm: the old codes "
                                                 "will stop working.")})


class RevokeForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Why is the pass revoked?"), max_length=200,
                             help_text=gettext_lazy("e.g. card lost, moved away"),
                             error_messages={"required": gettext_lazy(
                                 "Say why, in at most 200 characters.")})


def _gate(user, obj_ok: Callable[[], object]) -> object:  # noqa: ANN001
    obj = obj_ok()  # 404 outside the area, before anything says what the user may do
    if not can(user, Can.ISSUE_PASSES):
        raise PermissionDenied
    return obj


def _post(request: HttpRequest, pass_: Pass | None, issue: Callable[[], Pass],
          ) -> tuple[HttpResponse | None, ReissueForm, RevokeForm]:
    """Carry out the POSTed action; a redirect when done, else the forms with errors."""
    reissue, revoke = ReissueForm(prefix="reissue"), RevokeForm(prefix="revoke")
    action = request.POST.get("do", "")
    ip = client_ip(request)
    if action == "issue":
        reissue = ReissueForm(request.POST, prefix="reissue")
        if pass_ is None or reissue.is_valid():
            try:
                new = issue()
            except ValidationError as exc:
                reissue.add_error(None, exc)
            else:
                messages.success(request, _("Pass issued (version %(v)d). Print the card "
                                            "or show the resident their page.")
                                 % {"v": new.version})
                return redirect(request.path), reissue, revoke
    elif action == "revoke" and pass_ is not None:
        revoke = RevokeForm(request.POST, prefix="revoke")
        if revoke.is_valid():
            try:
                services.pass_revoke(pass_=pass_, reason=revoke.cleaned_data["reason"],
                                     by=request.user, ip=ip)
            except ValidationError as exc:
                revoke.add_error("reason", exc.message_dict.get("reason") or exc.messages)
            else:
                messages.success(request, _("Pass revoked: its codes open nothing now."))
                return redirect(request.path), reissue, revoke
    else:
        messages.error(request, _("Choose what to do."))
    return None, reissue, revoke


def _context(pass_: Pass | None) -> dict:
    if pass_ is None:
        return {"pass": None}
    return {"pass": pass_, "status": status_of_pass(pass_),
            "qr": qr_data_uri(token_of(pass_))}


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def resident_pass(request: HttpRequest, resident_id: int) -> HttpResponse:
    """A resident's pass (see the module docstring)."""
    resident = _gate(request.user, lambda: resident_for_user(request.user, resident_id))
    pass_ = (Pass.objects.filter(resident=resident)
             .select_related("issued_by", "resident", "resident__household").first())
    reissue, revoke, status = ReissueForm(prefix="reissue"), RevokeForm(prefix="revoke"), 200
    if request.method == "POST":
        done, reissue, revoke = _post(request, pass_, lambda: services.pass_issue(
            resident=resident, by=request.user, ip=client_ip(request)))
        if done is not None:
            return done
        status = 400
    household_pass = Pass.objects.filter(household_id=resident.household_id).first()
    return render(request, "passes/pass_resident.html", {
        "resident": resident, "active": resident.status == ResidentStatus.ACTIVE,
        "household_pass": household_pass, "reissue_form": reissue, "revoke_form": revoke,
        "breadcrumbs": area_breadcrumbs(request.user, resident.grid), **_context(pass_),
    }, status=status)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def household_pass(request: HttpRequest, household_id: int) -> HttpResponse:
    """A household's pass: one code for everyone registered in it (see the module
    docstring)."""
    household = _gate(request.user, lambda: household_for_user(request.user, household_id))
    pass_ = (Pass.objects.filter(household=household)
             .select_related("issued_by", "household").first())
    reissue, revoke, status = ReissueForm(prefix="reissue"), RevokeForm(prefix="revoke"), 200
    if request.method == "POST":
        done, reissue, revoke = _post(request, pass_, lambda: services.household_pass_issue(
            household=household, by=request.user, ip=client_ip(request)))
        if done is not None:
            return done
        status = 400
    members = list(residents_for_user(request.user)
                   .filter(household=household, status=ResidentStatus.ACTIVE)
                   .select_related("gate_pass").order_by("pk"))
    return render(request, "passes/pass_household.html", {
        "household": household, "members": members, "reissue_form": reissue,
        "revoke_form": revoke, "breadcrumbs": area_breadcrumbs(request.user, household.grid),
        **_context(pass_),
    }, status=status)
